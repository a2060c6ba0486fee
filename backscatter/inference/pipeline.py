"""Source -> detector -> sink, each stage on its own thread, joined by bounded queues.

A batch run never drops an item: a full queue blocks the stage before it. A live display sets
``drop_stale=True``: when the detector falls behind, the oldest waiting frame is dropped so the
newest is shown (counted in :attr:`PipelineStats.dropped`). Ctrl-C (or :meth:`Pipeline.stop`)
lets the item in each stage finish, so every output written so far is complete.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from backscatter.detections import Detections
from backscatter.scan import Scan

T = TypeVar("T")

#: GIL switch interval while a pipeline runs (Python's default is 5 ms)
SWITCH_INTERVAL_S = 0.0005


@dataclass
class Item:
    """One unit of work: ``source`` is the resume key (absolute path, or ``uri#k``)."""

    source: str
    scan: Scan | None = None
    error: BaseException | None = None
    detections: Detections | None = None
    #: per-stage milliseconds: read, preprocess, infer, postprocess, overlay, dx, tdr, ...
    timings: dict[str, float] = field(default_factory=dict)
    record: dict[str, Any] | None = None
    #: position in the input order (set by the pipeline's source stage)
    seq: int = -1
    #: the scan's id in every output and the stem of its output files (set in input order)
    scan_id: str = ""
    name: str = ""
    #: files written for this scan, relative to the output folder (kind -> path or None)
    outputs: dict[str, str | None] = field(default_factory=dict)


@dataclass
class PipelineStats:
    done: int = 0
    failed: int = 0
    dropped: int = 0
    wall_s: float = 0.0
    #: total busy milliseconds per stage ("source", "detect", "sink")
    stage_ms: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))

    @property
    def rate(self) -> float:
        """Scans finished per second of wall time."""
        return self.done / self.wall_s if self.wall_s > 0 else 0.0


class _Closed(Exception):
    pass


class StageQueue(Generic[T]):
    """Bounded FIFO between two stages; ``drop_oldest`` makes a full put evict the oldest item."""

    def __init__(self, maxsize: int, *, drop_oldest: bool, stop: threading.Event) -> None:
        if maxsize < 1:
            raise ValueError(f"queue size: expected >= 1, got {maxsize}")
        self._items: collections.deque[T] = collections.deque()
        self._maxsize = maxsize
        self._drop = drop_oldest
        self._stop = stop
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T, *, force: bool = False) -> T | None:
        """Add ``item``; returns an evicted item when dropping. ``force`` ignores the bound."""
        with self._cond:
            evicted = None
            while not force and len(self._items) >= self._maxsize:
                if self._drop:
                    evicted = self._items.popleft()
                    self.dropped += 1
                    break
                if self._stop.is_set():
                    raise _Closed
                self._cond.wait(0.1)
            self._items.append(item)
            self._cond.notify_all()
            return evicted

    def get(self) -> T:
        with self._cond:
            while not self._items:
                if self._stop.is_set():
                    raise _Closed
                self._cond.wait(0.1)
            item = self._items.popleft()
            self._cond.notify_all()
            return item


_END = Item(source="<end>")


class Pipeline:
    """Run ``items`` through ``detect`` (``workers`` threads) and ``sink``, in that order.

    ``items`` is consumed on the source thread (reading a scan happens there). ``detect(item)``
    fills ``item.detections``; ``sink(item)`` writes outputs. Failed items (``item.error`` set)
    skip detection and reach ``sink`` so they can be reported. ``on_done(item)`` runs on the
    sink thread after each item. With several workers the sink still takes items in input
    order (a small reorder buffer), so what is written does not depend on ``workers``; a live
    display (``drop_stale``) takes them as they come.
    """

    def __init__(
        self,
        items: Iterable[Item],
        detect: Callable[[Item], None],
        sink: Callable[[Item], None],
        *,
        queue_size: int = 4,
        workers: int = 1,
        drop_stale: bool = False,
        on_done: Callable[[Item], None] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers: expected >= 1, got {workers}")
        self._items = items
        self._detect = detect
        self._sink = sink
        self._on_done = on_done
        self._workers = workers
        self._in_order = workers > 1 and not drop_stale
        self._stop = threading.Event()
        self._q_in: StageQueue[Item] = StageQueue(
            queue_size, drop_oldest=drop_stale, stop=self._stop
        )
        self._q_out: StageQueue[Item] = StageQueue(queue_size, drop_oldest=False, stop=self._stop)
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        self.stats = PipelineStats()

    def stop(self) -> None:
        """Ask every stage to finish its current item and exit."""
        self._stop.set()

    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except _Closed:
                pass
            except BaseException as exc:  # a bug in a stage: stop everything, re-raise in run()
                self._errors.append(exc)
                self._stop.set()

        return run

    def _add_ms(self, stage: str, t0: float) -> None:
        with self._lock:
            self.stats.stage_ms[stage] += (time.perf_counter() - t0) * 1000

    def _source(self) -> None:
        try:
            it = iter(self._items)
            seq = 0
            while not self._stop.is_set():
                t0 = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    break
                item.seq, seq = seq, seq + 1
                self._add_ms("source", t0)
                item.timings.setdefault("read", (time.perf_counter() - t0) * 1000)
                self._q_in.put(item)
        finally:
            for _ in range(self._workers):
                self._q_in.put(_END, force=True)

    def _worker(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._q_in.get()
                if item is _END:
                    break
                if item.error is None:
                    t0 = time.perf_counter()
                    try:
                        self._detect(item)
                    except (ValueError, OSError) as exc:
                        item.error = exc
                    self._add_ms("detect", t0)
                self._q_out.put(item)
        finally:
            self._q_out.put(_END, force=True)

    def _sink_loop(self) -> None:
        ended = 0
        pending: dict[int, Item] = {}  # finished early, waiting for an earlier item
        next_seq = 0
        while ended < self._workers and not self._stop.is_set():
            item = self._q_out.get()
            if item is _END:
                ended += 1
                continue
            if not self._in_order:
                self._finish(item)
                continue
            # every item reaches this queue, so the sequence has no gaps; after a stop the
            # items still waiting are left unwritten (a resumed run does them)
            pending[item.seq] = item
            while next_seq in pending and not self._stop.is_set():
                self._finish(pending.pop(next_seq))
                next_seq += 1

    def _finish(self, item: Item) -> None:
        t0 = time.perf_counter()
        if item.error is None:
            try:
                self._sink(item)
            except (ValueError, OSError) as exc:
                item.error = exc
        self._add_ms("sink", t0)
        if item.error is None:
            self.stats.done += 1
        else:
            self.stats.failed += 1
        if self._on_done is not None:
            self._on_done(item)

    def run(self) -> PipelineStats:
        """Run to the end; Ctrl-C stops cleanly and re-raises KeyboardInterrupt.

        While it runs, the interpreter's thread switch interval is cut to 0.5 ms: a worker
        coming back from ONNX Runtime (which runs without the GIL) otherwise waits up to the
        default 5 ms for the GIL held by the reader parsing the next file, leaving its core idle.
        """
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, SWITCH_INTERVAL_S))
        try:
            return self._run()
        finally:
            sys.setswitchinterval(switch)

    def _run(self) -> PipelineStats:
        t0 = time.perf_counter()
        threads = [threading.Thread(target=self._guard(self._source), name="source", daemon=True)]
        threads += [
            threading.Thread(target=self._guard(self._worker), name=f"detect-{i}", daemon=True)
            for i in range(self._workers)
        ]
        threads.append(
            threading.Thread(target=self._guard(self._sink_loop), name="sink", daemon=True)
        )
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            self._stop.set()
            for t in threads:
                t.join(30)
            raise
        finally:
            self.stats.dropped = self._q_in.dropped
            self.stats.wall_s = time.perf_counter() - t0
        if self._errors:
            raise self._errors[0]
        return self.stats
