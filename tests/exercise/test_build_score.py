"""Build an exercise from simulated clean scans, answer it through a real review session and
audit log, score it through the CLI; the report and history hold the hand-computed figures."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from backscatter.acquisition.open import open_scan
from backscatter.audit import AuditLog
from backscatter.cli.main import main
from backscatter.dicos import read_tdr
from backscatter.exercise import ExerciseError
from backscatter.exercise.build import build_exercise
from backscatter.exercise.score import score_exercise
from backscatter.viewer.exercise import audit_path, exercise_items
from backscatter.viewer.review import ReviewSession

from .helpers import make_clean


@pytest.fixture(scope="module")
def exercise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ex")
    make_clean(root / "clean", 5)
    build_exercise(root / "clean", root / "EX", scans=10, threat_ratio=0.4, seed=3)
    return root / "EX"


def _key(ex: Path) -> dict:
    return json.loads((ex / "key" / "key.json").read_text())


def test_layout_and_answer_key(exercise: Path) -> None:
    key = _key(exercise)
    scans = sorted(p.name for p in (exercise / "scans").iterdir())
    assert scans == [f"{i:04d}.dcm" for i in range(1, 11)]
    assert key["n_threat"] == 4 and sum(e["threat"] for e in key["scans"]) == 4
    for entry in key["scans"]:
        scan = open_scan(exercise / entry["file"])
        assert scan.scan_id == entry["scan_id"]
        assert scan.shape == (256, 256)
        tdr = read_tdr(exercise / entry["tdr"])
        assert tdr.tdr_type == "GROUND_TRUTH"
        assert tdr.alarm_decision == ("ALARM" if entry["threat"] else "CLEAR")
        assert tdr.detections.label_names == [t["class_name"] for t in entry["threats"]]
        if entry["threat"]:
            assert np.allclose(tdr.detections.boxes[0], entry["threats"][0]["box"], atol=1.0)
    # every scan has its own UID, even two drawn from the same clean host
    assert len({e["scan_id"] for e in key["scans"]}) == 10


def test_trainee_scans_reveal_nothing(exercise: Path) -> None:
    import pydicom

    key = _key(exercise)
    for entry in key["scans"]:
        ds = pydicom.dcmread(exercise / entry["file"])
        text = str(ds).lower()
        assert "tip" not in ds.get("ImageComments", "").lower()
        assert entry["host"].lower() not in text
        assert "threat" not in text


def test_same_seed_same_exercise(tmp_path: Path, exercise: Path) -> None:
    again = build_exercise(exercise.parent / "clean", tmp_path / "EX2", scans=10,
                           threat_ratio=0.4, seed=3)  # fmt: skip
    k1, k2 = _key(exercise), json.loads(again.read_text())
    assert [e["threats"] for e in k1["scans"]] == [e["threats"] for e in k2["scans"]]
    assert (exercise / "scans" / "0004.dcm").read_bytes() != b""


def _answer(ex: Path, trainee: str, hit_all: bool) -> dict:
    """Decide every scan through a real ReviewSession: ALARM threats (all, or all but one)
    with a mark on the threat box, ALARM one clean scan, CLEAR the rest."""
    key = _key(ex)
    by_file = {str(ex / e["file"]): e for e in key["scans"]}
    missed = not hit_all
    false_alarm = True
    with AuditLog(audit_path(ex, trainee)) as audit:
        session = ReviewSession(exercise_items(ex), operator=trainee, audit=audit)
        for i in range(len(session.items)):
            item = session.go(i)
            assert item is not None
            entry = by_file[item.source]
            if entry["threat"] and missed:
                missed = False
                session.decide("CLEAR")
            elif entry["threat"]:
                session.add_mark(entry["threats"][0]["box"], entry["threats"][0]["class_name"])
                session.decide("ALARM")
            elif false_alarm:
                false_alarm = False
                session.decide("INSPECT")
            else:
                session.decide("CLEAR")
        session.close()
    return key


def test_score_report_and_history_through_the_cli(
    exercise: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _answer(exercise, "trainee-a", hit_all=False)
    history = tmp_path / "history.db"
    out = tmp_path / "report"
    rc = main(["exercise", "score", str(exercise), "--trainee", "trainee-a", "--out", str(out),
               "--history", str(history)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    rep = json.loads((out / "report.json").read_text())
    # 3 of 4 threats hit, 1 of 6 clean scans alarmed
    assert (rep["hits"], rep["misses"], rep["false_alarms"]) == (3, 1, 1)
    assert rep["hit_rate"] == 0.75 and rep["false_alarm_rate"] == pytest.approx(1 / 6)
    # z(0.75) = 0.674490, z(1/6) = -0.967422
    assert rep["d_prime"] == pytest.approx(0.674490 + 0.967422, abs=1e-5)
    h, f = 0.75, 1 / 6
    assert rep["a_prime"] == pytest.approx(0.5 + (h - f) * (1 + h - f) / (4 * h * (1 - f)))
    assert rep["located"] == 3 and rep["located_rate"] == 1.0
    assert rep["mean_time_s"] is not None and rep["mean_time_s"] >= 0
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 4 and "0.75" in html
    assert "<script" not in html and "src=" not in html  # self-contained
    con = sqlite3.connect(history)
    rows = con.execute("SELECT trainee, exercise, hit_rate FROM history").fetchall()
    assert rows == [("trainee-a", _key(exercise)["exercise_id"], 0.75)]
    # scoring again updates, it does not add a row
    assert main(["exercise", "score", str(exercise), "--trainee", "trainee-a", "--out",
                 str(out), "--history", str(history)]) == 0  # fmt: skip
    assert con.execute("SELECT COUNT(*) FROM history").fetchone() == (1,)
    con.close()


def test_history_trend_over_two_exercises(exercise: Path, tmp_path: Path) -> None:
    from backscatter.exercise.history import History

    second = tmp_path / "EX-b"
    build_exercise(exercise.parent / "clean", second, scans=6, threat_ratio=0.5, seed=9)
    _answer(second, "trainee-b", hit_all=True)
    _answer(exercise, "trainee-b", hit_all=False)
    db = tmp_path / "h.db"
    with History(db) as hist:
        hist.record(score_exercise(second, "trainee-b"), scored_at="2026-01-01T00:00:00Z")
        hist.record(score_exercise(exercise, "trainee-b"), scored_at="2026-01-02T00:00:00Z")
        trend = hist.trend("trainee-b")
    assert [r["hit_rate"] for r in trend] == [1.0, 0.75]
    assert [r["false_alarm_rate"] for r in trend] == [pytest.approx(1 / 3), pytest.approx(1 / 6)]


def test_cli_build_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = make_clean(tmp_path / "clean", 2, seed=20)
    args = ["--scans", "4", "--threat-ratio", "0.5", "--seed", "1", "--classes", "blade"]
    rc = main(["exercise", "build", "--clean", str(clean), "--out", str(tmp_path / "EX"), *args])
    assert rc == 0
    key = _key(tmp_path / "EX")
    assert {t["class_name"] for e in key["scans"] for t in e["threats"]} == {"blade"}
    assert "4 scans (2 with a threat, prevalence 50.0%)" in capsys.readouterr().out
    rc = main(["exercise", "build", "--clean", str(tmp_path / "nope"), "--out",
               str(tmp_path / "EX3"), "--scans", "4"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "nope: not a folder" in err and len(err.strip().splitlines()) == 1
    rc = main(["exercise", "score", str(tmp_path / "EX"), "--trainee", "ghost", "--out",
               str(tmp_path / "r")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "trainee 'ghost' has no answers" in err


def test_unknown_class_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExerciseError, match="--classes"):
        build_exercise(tmp_path, tmp_path / "EX", scans=2, threat_ratio=0.5, seed=0,
                       classes=["grenade"])  # fmt: skip


def test_key_holds_the_dose_and_a_non_poisson_host_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import cv2

    clean = make_clean(tmp_path / "clean", 4, seed=30)
    rng = np.random.default_rng(0)
    x = np.mgrid[0:256, 0:256][1]
    drawn = np.clip(3000 + 40 * x + rng.normal(0, 50, x.shape), 0, 65535).astype(np.uint16)
    cv2.imwrite(str(clean / "drawn.png"), drawn)  # noise that does not grow with the signal
    with caplog.at_level("WARNING"):
        path = build_exercise(clean, tmp_path / "EX", scans=6, threat_ratio=0.5, seed=2)
    key = json.loads(path.read_text())
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "drawn.png" in refusals[0] and "Poisson" in refusals[0]
    assert "\n" not in refusals[0]
    assert list(key["refused_hosts"]) == ["drawn.png"]
    assert all(e["host"] != "drawn.png" for e in key["scans"])  # the others went on
    dev = key["device"]
    # DICOS from the simulator name the device: its dose, with the scans' estimate beside it
    assert dev["source"] == "metadata" and dev["counts_per_signal"] == 1500.0
    assert dev["n_hosts"] == 4 and 0 < dev["estimate_rel_se"] < 1
    assert abs(np.log(dev["estimate"] / 1500.0)) < 3 * dev["estimate_rel_se"] + 0.1
    # one device, one gain: pooled over the hosts (the simulator's 64 DN per photon)
    assert abs(dev["gain_dn_per_photon"] - 64.0) <= 4 * dev["gain_se"] + 3.2
    for name, host in key["hosts"].items():
        assert name.startswith("clean_") and host["gain_dn_per_photon"] > 0
        assert abs(host["gain_dn_per_photon"] - 64.0) <= 4 * host["gain_se"] + 6.4


def test_prevalence_blocks_are_laid_out_in_order(tmp_path: Path) -> None:
    clean = make_clean(tmp_path / "clean", 3, seed=40)
    path = build_exercise(clean, tmp_path / "EX", scans=0, threat_ratio=0.0, seed=5,
                          blocks=[(4, 0.5), (10, 0.1)], classes=["currency"])  # fmt: skip
    key = json.loads(path.read_text())
    assert key["blocks"] == [
        {"block": 1, "scans": 4, "prevalence": 0.5, "n_threat": 2},
        {"block": 2, "scans": 10, "prevalence": 0.1, "n_threat": 1},
    ]
    assert [e["block"] for e in key["scans"]] == [1] * 4 + [2] * 10
    assert sum(e["threat"] for e in key["scans"][:4]) == 2
    assert sum(e["threat"] for e in key["scans"][4:]) == 1
    assert key["n_scans"] == 14 and key["threat_ratio"] == pytest.approx(3 / 14)


def test_bad_block_is_refused(tmp_path: Path) -> None:
    clean = make_clean(tmp_path / "clean", 1, seed=50)
    with pytest.raises(ExerciseError, match="block 2"):
        build_exercise(clean, tmp_path / "EX", scans=0, threat_ratio=0.0, seed=0,
                       blocks=[(4, 0.5), (3, 1.5)])  # fmt: skip
