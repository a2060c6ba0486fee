"""Scoring against hand-computed figures: rates, d', A', corrections, localisation, times."""

from __future__ import annotations

import math

import pytest

from backscatter.exercise import ExerciseError
from backscatter.exercise.score import (
    Response,
    a_prime,
    corrected_rate,
    mark_locates,
    responses_from_rows,
    score,
)

BOX = [100.0, 100.0, 140.0, 130.0]


def _key(n_threat: int, n_clean: int, cls: str = "firearm") -> dict:
    scans = []
    for i in range(n_threat + n_clean):
        threats = [{"class_name": cls, "box": BOX}] if i < n_threat else []
        scans.append({"index": i + 1, "file": f"scans/{i + 1:04d}.dcm", "scan_id": f"s{i}",
                      "threats": threats})  # fmt: skip
    return {"exercise_id": "ex1", "scans": scans}


def _answers(hits: int, n_threat: int, fas: int, n_clean: int) -> dict[str, Response]:
    out = {}
    for i in range(n_threat):
        out[f"s{i}"] = Response("ALARM" if i < hits else "CLEAR", seconds=float(i + 1))
    for j in range(n_clean):
        out[f"s{n_threat + j}"] = Response("INSPECT" if j < fas else "CLEAR", seconds=2.0)
    return out


def test_eight_hits_of_ten_and_three_false_alarms_of_thirty() -> None:
    s = score(_key(10, 30), _answers(8, 10, 3, 30), trainee="t1")
    assert (s.hits, s.misses, s.false_alarms, s.correct_rejections) == (8, 2, 3, 27)
    assert s.hit_rate == 0.8 and s.false_alarm_rate == 0.1
    # z(0.8) = 0.841621, z(0.1) = -1.281552 (normal table)
    assert s.d_prime == pytest.approx(0.841621 + 1.281552, abs=1e-5)
    # A' = 0.5 + (0.7 * 1.7) / (4 * 0.8 * 0.9) = 0.5 + 1.19 / 2.88
    assert s.a_prime == pytest.approx(0.5 + 1.19 / 2.88, abs=1e-12)
    assert s.unanswered == 0


def test_rates_of_zero_and_one_are_corrected_by_one_over_2n() -> None:
    s = score(_key(10, 30), _answers(10, 10, 0, 30))
    assert s.hit_rate == 1.0 and s.false_alarm_rate == 0.0
    assert s.hit_rate_corrected == 1 - 1 / 20 and s.false_alarm_rate_corrected == 1 / 60
    # z(0.95) = 1.644854, z(1/60) = -2.128045
    assert s.d_prime == pytest.approx(1.644854 + 2.128045, abs=1e-5)
    assert s.a_prime == 1.0  # A' from raw rates: 0.5 + (1 * 2) / (4 * 1 * 1)
    assert math.isfinite(s.d_prime)


def test_below_chance_gives_negative_d_prime_and_a_prime_under_half() -> None:
    s = score(_key(4, 4), _answers(1, 4, 3, 4))
    assert s.hit_rate == 0.25 and s.false_alarm_rate == 0.75
    assert s.d_prime == pytest.approx(-2 * 0.674490, abs=1e-5)
    # F > H: A' = 0.5 - (0.5 * 1.5) / (4 * 0.75 * 0.75)
    assert s.a_prime == pytest.approx(0.5 - 0.75 / 2.25, abs=1e-12)
    assert a_prime(0.4, 0.4) == 0.5


def test_corrected_rate_needs_trials() -> None:
    with pytest.raises(ExerciseError, match="at least one trial"):
        corrected_rate(0, 0)


def test_localisation_by_iou_or_centre() -> None:
    assert mark_locates((100, 100, 140, 130), BOX)  # same box
    assert mark_locates((130, 120, 300, 300), BOX) is False  # IoU small, centre outside
    assert mark_locates((120, 110, 180, 150), BOX)  # IoU 400 / 3200 = 0.125, centre outside
    assert mark_locates((0, 0, 250, 250), BOX)  # IoU 0.02, but centre (125, 125) inside
    key = _key(3, 3)
    answers = _answers(3, 3, 0, 3)
    answers["s0"] = Response("ALARM", marks=((105.0, 105.0, 135.0, 125.0),), seconds=1.0)
    answers["s1"] = Response("ALARM", marks=((0.0, 0.0, 20.0, 20.0),), seconds=1.0)
    s = score(key, answers)
    assert s.located == 1 and s.located_rate == pytest.approx(1 / 3)
    assert s.per_class["firearm"].located == 1


def test_times_per_class_and_unanswered() -> None:
    key = _key(4, 4)
    key["scans"][1]["threats"] = [{"class_name": "blade", "box": BOX}]
    answers = _answers(4, 4, 1, 4)
    del answers["s3"], answers["s7"]  # one threat and one clean scan never decided
    s = score(key, answers)
    assert s.unanswered == 2 and s.hits == 3 and s.misses == 1
    times = [1.0, 2.0, 3.0, 2.0, 2.0, 2.0]
    assert s.mean_time_s == pytest.approx(sum(times) / 6)
    assert s.median_time_s == 2.0
    assert s.per_class["blade"].threats == 1 and s.per_class["blade"].hit_rate == 1.0
    assert s.per_class["firearm"].threats == 3 and s.per_class["firearm"].hits == 2
    assert [r["outcome"] for r in s.per_scan] == ["hit", "hit", "hit", "miss", "fa", "cr",
                                                  "cr", "cr"]  # fmt: skip


def test_last_decision_per_scan_counts_and_times_come_from_the_audit_row() -> None:
    rows = [
        {"scan_id": "s0", "decision": "CLEAR", "marks": "[]",
         "ts_shown": "2026-01-01T10:00:00.000Z", "ts_decided": "2026-01-01T10:00:03.500Z"},
        {"scan_id": "s0", "decision": "ALARM", "marks": '[{"box": [1, 2, 3, 4]}]',
         "ts_shown": "2026-01-01T10:00:00.000Z", "ts_decided": "2026-01-01T10:00:07.250Z"},
    ]  # fmt: skip
    r = responses_from_rows(rows)
    assert r["s0"].decision == "ALARM" and r["s0"].seconds == 7.25
    assert r["s0"].marks == ((1.0, 2.0, 3.0, 4.0),)


def test_key_without_clean_scans_is_refused() -> None:
    with pytest.raises(ExerciseError, match="both threat and clean"):
        score(_key(3, 0), {})


def test_d_a_from_the_two_confidence_levels() -> None:
    """10 threats: 4 ALARM + 3 INSPECT; 30 clean: 1 ALARM + 5 INSPECT. Points (strict, lax):
    H 0.4 / 0.7, F 1/30 / 0.2 -> s = (z(0.7) - z(0.4)) / (z(0.2) - z(1/30))."""
    answers = {}
    for i in range(10):
        answers[f"s{i}"] = Response("ALARM" if i < 4 else "INSPECT" if i < 7 else "CLEAR")
    for j in range(30):
        answers[f"s{10 + j}"] = Response("ALARM" if j < 1 else "INSPECT" if j < 6 else "CLEAR")
    s = score(_key(10, 30), answers)
    z = {0.7: 0.524401, 0.4: -0.253347, 0.2: -0.841621, 1 / 30: -1.833915}  # normal table
    slope = (z[0.7] - z[0.4]) / (z[0.2] - z[1 / 30])
    assert s.zroc_slope_source == "fitted" and s.zroc_slope == pytest.approx(slope, abs=1e-5)
    expected = math.sqrt(2 / (1 + slope**2)) * (z[0.7] - slope * z[0.2])
    assert s.d_a == pytest.approx(expected, abs=1e-5)
    assert s.d_a != pytest.approx(s.d_prime, abs=0.01)  # unequal variances: not d'
    assert s.prevalence == 0.25


def test_d_a_is_d_prime_when_one_level_is_used() -> None:
    s = score(_key(10, 30), _answers(8, 10, 3, 30))  # all hits ALARM, all false alarms INSPECT
    # strict point (0.8, 1/60 corrected) and lax (0.8, 0.1): H does not move, F does: s = 0 is
    # implausible, so it is assumed 1 and d_a = d'
    assert s.zroc_slope_source == "assumed" and s.d_a == pytest.approx(s.d_prime)


def test_prevalence_blocks_are_scored_apart() -> None:
    key = _key(4, 16)
    for i, e in enumerate(key["scans"]):
        e["block"] = 1 if i % 2 == 0 else 2
    key["scans"][0]["threats"] = key["scans"][1]["threats"] = []  # block 1: s2; block 2: s3
    key["scans"][8]["threats"] = [{"class_name": "blade", "box": BOX}]  # block 1
    answers = {f"s{i}": Response("ALARM" if i in (2, 8) else "CLEAR") for i in range(20)}
    s = score(key, answers)
    b1, b2 = s.blocks
    assert (b1["block"], b1["scans"], b1["threat_scans"], b1["hits"]) == (1, 10, 2, 2)
    assert (b2["block"], b2["scans"], b2["threat_scans"], b2["misses"]) == (2, 10, 1, 1)
    assert b1["prevalence"] == 0.2 and b2["prevalence"] == 0.1
    assert b2["miss_rate"] == 1.0 and b1["false_alarm_rate"] == 0.0
