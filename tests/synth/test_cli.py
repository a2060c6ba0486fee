"""``backscatter synth``: writes a dataset, prints the manifest path, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backscatter.cli.main import main


def test_synth_writes_dataset_and_prints_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    argv = ["synth", "--scenes", "5", "--out", str(out), "--seed", "4", "--size", "64x96"]
    argv += ["--profile", "compact", "--clean-fraction", "0.4", "--workers", "1", "--quiet"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out / "manifest.json")
    m = json.loads((out / "manifest.json").read_text())
    assert m["parameters"]["size"] == [64, 96] and m["parameters"]["profile"] == "compact"
    assert m["parameters"]["clean_fraction"] == 0.4
    assert len(list((out / "images").glob("*.png"))) == 5


def test_bad_scene_count_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["synth", "--scenes", "0", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "scenes: expected >= 1, got 0" in err[0]


def test_bad_size_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--scenes", "1", "--out", "x", "--size", "wide"])
    assert exc.value.code == 2
    assert "ROWSxCOLS" in capsys.readouterr().err
