"""`backscatter detect` end to end: folders, bad inputs, outputs, resume, DICOS samples."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from backscatter.cli.main import main
from backscatter.inference.sinks import ResultsLog, coco_results, read_results
from backscatter.viewer.overlay import LINE_H, MIN_WIDTH

from .conftest import blob_scan

INTEROP = Path(__file__).resolve().parents[2] / ".." / "shared" / "interop" / "dicos-samples"

#: per file: the bright box (None = a clean scan)
BOXES: list[tuple[int, int, int, int] | None] = [
    (10, 12, 30, 40),
    None,
    (60, 20, 90, 44),
    (5, 5, 15, 15),
    None,
    (40, 50, 70, 90),
]


def write_folder(folder: Path, boxes: list[tuple[int, int, int, int] | None]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, box in enumerate(boxes):
        scan = blob_scan((100, 120), [box] if box else [], seed=i)
        path = folder / f"scan_{i:03d}.png"
        assert cv2.imwrite(str(path), scan.pixels)
        paths.append(path)
    return paths


def strip_timings(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "timings_ms"}


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    write_folder(tmp_path / "in", BOXES)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    return tmp_path / "in"


def run_detect(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["detect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_folder_is_screened_with_every_output_and_a_bad_file_reported(
    folder: Path, tmp_path: Path, blob_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_detect(
        [str(folder), "--out", str(out), "--model", str(blob_model), "--json"], capsys
    )
    assert code == 2  # broken.png failed, the rest went on
    bad = [line for line in err.splitlines() if "broken.png" in line]
    assert len(bad) == 1 and bad[0].startswith("backscatter detect: ")
    summary = json.loads(stdout)
    assert (summary["done"], summary["failed"], summary["provider"]) == (6, 1, "cpu")
    records = read_results(out / "results.jsonl")
    assert [Path(r["source"]).name for r in records] == [f"scan_{i:03d}.png" for i in range(6)]
    for rec, box in zip(records, BOXES, strict=True):
        assert (rec["rows"], rec["columns"]) == (100, 120)
        assert rec["alarm"] == ("ALARM" if box else "CLEAR")
        assert [d["box"] for d in rec["flags"]] == ([list(map(float, box))] if box else [])
        assert rec["model_id"] == summary["model_id"] and rec["provider"] == "cpu"
        assert len(rec["source_sha256"]) == 64
        assert {"read", "infer", "overlay", "tdr", "dx"} <= set(rec["timings_ms"])
        overlay = cv2.imread(str(out / rec["outputs"]["overlay"]))
        assert overlay.shape == (LINE_H * 3 + 100, MIN_WIDTH, 3)  # banner, details, legend
        tdr = pydicom.dcmread(out / rec["outputs"]["tdr"])
        assert tdr.AlarmDecision == rec["alarm"]
        assert int(tdr.NumberOfTotalObjects) == len(rec["flags"])
        dx = pydicom.dcmread(out / rec["outputs"]["dx"])
        np.testing.assert_array_equal(dx.pixel_array, cv2.imread(rec["source"], -1))
    coco = json.loads((out / "coco_results.json").read_text())
    assert coco == coco_results(records)
    assert coco[0]["bbox"] == [10.0, 12.0, 20.0, 28.0] and coco[0]["category_id"] == 5
    assert not list(out.rglob("*.part"))


def test_rerun_resumes_and_skips_what_is_done(
    folder: Path, tmp_path: Path, blob_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [str(folder), "--out", str(out), "--model", str(blob_model), "--json", "--outputs", ""]
    run_detect(args, capsys)
    first = (out / "results.jsonl").read_bytes()
    code, stdout, _ = run_detect(args, capsys)
    summary = json.loads(stdout)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (0, 6, 1)
    assert (out / "results.jsonl").read_bytes() == first
    # a run killed mid-line leaves a torn last line: the next run cuts it and redoes that scan
    torn = first[: len(first) - 40]
    (out / "results.jsonl").write_bytes(torn)
    code, stdout, _ = run_detect(args, capsys)
    assert json.loads(stdout)["done"] == 1
    again = read_results(out / "results.jsonl")
    assert [strip_timings(r) for r in again] == [
        strip_timings(json.loads(line)) for line in first.splitlines()
    ]


def test_glob_and_missing_inputs(
    folder: Path, tmp_path: Path, blob_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_detect(
        [
            str(folder / "scan_00[0-2].png"),
            str(tmp_path / "missing.png"),
            str(tmp_path / "nothing*.png"),
            "--out",
            str(out),
            "--model",
            str(blob_model),
            "--json",
            "--outputs",
            "coco",
        ],
        capsys,
    )
    assert code == 2
    assert json.loads(stdout)["done"] == 3
    assert "missing.png: no such file or directory" in err
    assert "nothing*.png: no file matches this pattern" in err


def test_tampered_model_stops_detect_with_one_line(
    folder: Path, tmp_path: Path, blob_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "m"
    bad.mkdir()
    for suffix in (".onnx", ".json"):
        (bad / f"blob{suffix}").write_bytes(blob_model.with_suffix(suffix).read_bytes())
    with open(bad / "blob.onnx", "ab") as f:
        f.write(b"\x00")
    code, _, err = run_detect(
        [str(folder), "--out", str(tmp_path / "o"), "--model", str(bad / "blob.onnx")], capsys
    )
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("backscatter detect: error: ")
    assert "does not match the card blob.json" in err


def test_results_log_cuts_a_torn_line(tmp_path: Path) -> None:
    (tmp_path / "results.jsonl").write_bytes(b'{"source": "a", "scan_id": "x"}\n{"sour')
    log = ResultsLog(tmp_path)
    log.close()
    assert log.done_sources == {"a"}
    assert (tmp_path / "results.jsonl").read_bytes() == b'{"source": "a", "scan_id": "x"}\n'


@pytest.mark.skipif(not INTEROP.is_dir(), reason="shared DICOS samples not present")
def test_shared_dicos_images_are_screened_and_non_images_reported(
    tmp_path: Path, blob_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_detect(
        [str(INTEROP), "--out", str(out), "--model", str(blob_model), "--json"], capsys
    )
    summary = json.loads(stdout)
    records = read_results(out / "results.jsonl")
    assert summary["done"] == len(records) >= 10
    not_images = [line for line in err.splitlines() if "not a 2-D image" in line]
    # TDR, CT, QR objects: each named once as skipped, not failed; every image screened
    assert summary["not_images"] == len(not_images) >= 1 and summary["failed"] == 0
    assert all(line.endswith("(skipped)") for line in not_images)
    assert code == 0
    for rec in records:
        assert rec["outputs"]["dx"] is None  # DICOM sources get a TDR, not a new DX
        tdr = pydicom.dcmread(out / rec["outputs"]["tdr"])
        src = pydicom.dcmread(rec["source"], stop_before_pixels=True)
        assert tdr.AlarmDecision == rec["alarm"]
        assert (src.Rows, src.Columns) == (rec["rows"], rec["columns"])


def test_sim_uri_is_screened_and_capped_by_count(
    tmp_path: Path, blob_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("backscatter.acquisition.sim", reason="simulated device not there yet")
    uri = "sim://handheld?seed=4&count=5&realtime=0"
    out = tmp_path / "out"
    code, stdout, _ = run_detect(
        [uri, "--count", "2", "--out", str(out), "--model", str(blob_model), "--json"], capsys
    )
    assert code == 0 and json.loads(stdout)["done"] == 2
    records = read_results(out / "results.jsonl")
    assert [r["input"] for r in records] == [f"{uri}#0", f"{uri}#1"]
    assert all(r["source"] == r["outputs"]["dx"] for r in records)
    assert (records[0]["rows"], records[0]["columns"]) == (512, 512)


@pytest.mark.skipif(
    "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers(),
    reason="checks the CPU fallback report on a CPU-only build",
)
def test_json_reports_the_provider_that_runs_and_the_gpu_fallback(
    folder: Path, tmp_path: Path, blob_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, _ = run_detect(
        [str(folder / "scan_000.png"), "--out", str(tmp_path / "o"), "--model", str(blob_model),
         "--provider", "cuda", "--json", "--outputs", ""],
        capsys,
    )  # fmt: skip
    summary = json.loads(stdout)
    assert code == 0
    assert (summary["provider"], summary["provider_requested"]) == ("cpu", "cuda")
    assert "requested provider 'cuda'" in summary["warnings"][0]
    assert read_results(tmp_path / "o" / "results.jsonl")[0]["provider"] == "cpu"


def test_a_second_writer_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    from backscatter.inference.sinks import OutputBusyError

    first = ResultsLog(tmp_path)
    with pytest.raises(OutputBusyError, match="another run is writing results here"):
        ResultsLog(tmp_path)
    first.close()
    ResultsLog(tmp_path).close()  # free again once the first run closed


def test_a_tdr_beside_the_images_is_skipped_not_failed(
    tmp_path: Path, blob_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from backscatter.detections import Detections
    from backscatter.dicos.tdr import write_machine_tdr

    folder = tmp_path / "in"
    write_folder(folder, [(10, 12, 30, 40)])
    scan = blob_scan((100, 120), [], seed=9)
    write_machine_tdr(
        scan, Detections.empty(), folder / "other.dcm", model_id="m", alarm_threshold=0.5
    )
    code, _, err = run_detect(
        [str(folder), "--out", str(tmp_path / "out"), "--model", str(blob_model)], capsys
    )
    assert code == 0
    assert "other.dcm: is a DICOS Threat Detection Report (TDR), not a 2-D image (skipped)" in err
    assert "1 screened, 0 failed, 0 already done, 1 skipped (not a 2-D image)" in err


def test_a_missing_input_folder_is_one_line_and_creates_no_output_folder(
    tmp_path: Path, blob_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = run_detect(
        [str(tmp_path / "nope"), "--out", str(out), "--model", str(blob_model)], capsys
    )
    assert code == 2 and not out.exists()
    assert err.strip().splitlines() == [
        f"backscatter detect: error: {tmp_path / 'nope'}: no such file or directory"
    ]


def test_render_with_a_missing_results_file_says_so_in_one_line(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "render",
            str(folder / "scan_000.png"),
            "--results",
            str(tmp_path / "gone.jsonl"),
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Errno" not in err and len(err.strip().splitlines()) == 1
    assert "gone.jsonl: no results file there" in err and not (tmp_path / "x.png").exists()
