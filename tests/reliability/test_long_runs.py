"""Short forms of the long runs (bench/reliability/long_runs.py runs 10,000 and 2,000): scans
through the pipeline and images through the receiver, none lost, memory flat after warm-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness.longrun import pipeline_run, receiver_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    blob = pytest.importorskip("inference.blob_model")
    return Path(blob.write_blob_model(tmp_path_factory.mktemp("model"), "blob"))


def test_pipeline_300_scans_flat_memory(model: Path, tmp_path: Path) -> None:
    run = pipeline_run(model, tmp_path / "out", 300, mark=100)
    print(run.summary("pipeline"))
    assert run.lost == 0 and run.done == 300
    assert run.hwm_at_mark_kb > 0
    assert run.growth < 0.25  # full run: 10 %


def test_receiver_150_images_flat_memory(model: Path, tmp_path: Path) -> None:
    run = receiver_run(tmp_path / "in", 150, mark=50, model=model, per_association=25)
    print(run.summary("receiver"))
    assert run.lost == 0 and run.done == 150
    assert run.hwm_at_mark_kb > 0
    assert run.growth < 0.25
