"""The threaded pipeline: ordering, no drops in batch mode, stale-frame dropping, errors, stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from backscatter.inference.pipeline import Item, Pipeline, StageQueue

from .conftest import blob_scan


def _items(n: int, *, delay: float = 0.0) -> Iterator[Item]:
    for i in range(n):
        if delay:
            time.sleep(delay)
        yield Item(f"src-{i}", scan=blob_scan((8, 8), [], scan_id=f"s{i}"))


def test_batch_mode_delivers_every_item_in_order_with_stage_timings() -> None:
    seen: list[str] = []
    threads: set[str] = set()

    def detect(item: Item) -> None:
        threads.add(threading.current_thread().name)
        time.sleep(0.002)

    def sink(item: Item) -> None:
        threads.add(threading.current_thread().name)
        seen.append(item.source)

    stats = Pipeline(_items(40), detect, sink, queue_size=2).run()
    assert seen == [f"src-{i}" for i in range(40)]
    assert (stats.done, stats.failed, stats.dropped) == (40, 0, 0)
    assert threads == {"detect-0", "sink"}
    assert stats.stage_ms["detect"] >= 40 * 2
    assert stats.rate > 0


def test_slow_detector_makes_live_mode_drop_stale_frames_but_batch_mode_wait() -> None:
    def detect(item: Item) -> None:
        time.sleep(0.02)

    live: list[str] = []
    stats = Pipeline(
        _items(30, delay=0.002),
        detect,
        lambda it: live.append(it.source),
        queue_size=1,
        drop_stale=True,
    ).run()
    assert stats.dropped > 0
    assert stats.done + stats.dropped == 30
    assert live[-1] == "src-29"  # the newest frame is always shown
    batch: list[str] = []
    stats = Pipeline(
        _items(30, delay=0.002), detect, lambda it: batch.append(it.source), queue_size=1
    ).run()
    assert stats.dropped == 0 and len(batch) == 30


def test_several_workers_process_everything_once() -> None:
    done: list[str] = []
    stats = Pipeline(
        _items(50), lambda it: time.sleep(0.001), lambda it: done.append(it.source), workers=3
    ).run()
    assert sorted(done) == sorted(f"src-{i}" for i in range(50))
    assert stats.done == 50


def test_several_workers_still_sink_in_input_order() -> None:
    """Workers finish out of order (random detect times); the sink sees the input order."""
    import random
    import sys

    rnd = random.Random(7)
    delays = {f"src-{i}": rnd.choice([0.0, 0.001, 0.006]) for i in range(60)}
    seen: list[str] = []
    finished: list[str] = []
    lock = threading.Lock()

    def detect(item: Item) -> None:
        time.sleep(delays[item.source])
        with lock:
            finished.append(item.source)

    before = sys.getswitchinterval()
    stats = Pipeline(_items(60), detect, lambda it: seen.append(it.source), workers=3).run()
    assert finished != sorted(finished, key=lambda s: int(s.split("-")[1]))  # really reordered
    assert seen == [f"src-{i}" for i in range(60)]
    assert stats.done == 60
    assert sys.getswitchinterval() == before  # the run's shorter GIL switch interval is undone


def test_failed_items_reach_on_done_and_the_rest_goes_on() -> None:
    def items() -> Iterator[Item]:
        yield Item("bad-read", error=OSError("bad-read: cannot open"))
        yield from _items(3)

    def detect(item: Item) -> None:
        if item.source == "src-1":
            raise ValueError("src-1: detector refused it")

    reported: list[tuple[str, str | None]] = []
    stats = Pipeline(
        items(),
        detect,
        lambda it: None,
        on_done=lambda it: reported.append((it.source, str(it.error) if it.error else None)),
    ).run()
    assert reported == [
        ("bad-read", "bad-read: cannot open"),
        ("src-0", None),
        ("src-1", "src-1: detector refused it"),
        ("src-2", None),
    ]
    assert (stats.done, stats.failed) == (2, 2)


def test_a_bug_in_a_stage_stops_the_run_and_is_raised() -> None:
    def sink(item: Item) -> None:
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError, match="bug"):
        Pipeline(_items(100), lambda it: None, sink).run()


def test_stop_ends_the_run_after_the_items_in_flight() -> None:
    done: list[str] = []
    pipe: Pipeline

    def sink(item: Item) -> None:
        done.append(item.source)
        if len(done) == 3:
            pipe.stop()

    pipe = Pipeline(_items(1000, delay=0.001), lambda it: None, sink)
    pipe.run()
    assert 3 <= len(done) < 20


def test_queue_drops_only_when_asked() -> None:
    stop = threading.Event()
    q: StageQueue[int] = StageQueue(2, drop_oldest=True, stop=stop)
    for i in range(5):
        q.put(i)
    assert (q.get(), q.get(), q.dropped) == (3, 4, 3)
    with pytest.raises(ValueError, match="queue size: expected >= 1, got 0"):
        StageQueue(0, drop_oldest=False, stop=stop)
