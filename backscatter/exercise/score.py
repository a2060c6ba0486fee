"""Scoring a trainee's answers against the key, as screening programmes score screeners.

A scan counts as *answered positive* when the last decision on it is ALARM or INSPECT. Scans
never decided count as CLEAR (the bag went through) and are reported as ``unanswered``.

- hit rate ``H = hits / threat scans``, false alarm rate ``F = false alarms / clean scans``
- ``d' = z(H) - z(F)`` with rates of 0 and 1 replaced by ``1 / (2N)`` and ``1 - 1 / (2N)``
  (Macmillan & Kaplan 1985; N = the number of threat or clean scans)
- ``A'`` (Pollack & Norman 1964, Grier 1971 form) from the uncorrected rates:
  ``0.5 + (H - F)(1 + H - F) / (4 H (1 - F))`` when ``H >= F``, the mirror form otherwise,
  0.5 when ``H == F``
- ``d_a`` (unequal-variance d', Simpson & Fitter 1973): ``sqrt(2 / (1 + s^2)) (z(H) - s z(F))``
  with ``s`` the slope of the z-ROC. ALARM and INSPECT are two confidence levels, so the
  trainee's answers give two ROC points (ALARM only; ALARM or INSPECT) and ``s`` is fitted
  through them when they differ enough (|z(F) difference| >= 0.25, ``s`` in 0.2..5); otherwise
  ``s = 1`` (then ``d_a = d'``) and the report says it was assumed
- prevalence: the share of threat scans, overall and per prevalence block of the exercise
  (rare targets are missed more often: a block at 2 % shows what 50 % hides)
- a hit is *located* when one of the trainee's marks has IoU >= 0.1 with a threat box, or the
  mark's centre lies inside one
- decision time: ``ts_decided - ts_shown`` of the deciding audit row, seconds
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from statistics import NormalDist, median
from typing import Any

from backscatter.classes import THREAT_CLASSES
from backscatter.exercise import ExerciseError

POSITIVE = frozenset({"ALARM", "INSPECT"})
MIN_IOU = 0.1


@dataclass(frozen=True)
class Response:
    """The trainee's last decision on one scan."""

    decision: str
    marks: tuple[tuple[float, float, float, float], ...] = ()
    #: seconds from the scan being shown to the decision; None when unknown
    seconds: float | None = None
    note: str = ""


@dataclass
class ClassScore:
    threats: int = 0
    hits: int = 0
    located: int = 0

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.threats if self.threats else None


@dataclass
class Score:
    """Every figure of one trainee on one exercise (see the module docstring for the rules)."""

    trainee: str
    exercise: str
    n_threat: int
    n_clean: int
    hits: int
    misses: int
    false_alarms: int
    correct_rejections: int
    unanswered: int
    hit_rate: float
    false_alarm_rate: float
    hit_rate_corrected: float
    false_alarm_rate_corrected: float
    d_prime: float
    a_prime: float
    located: int
    located_rate: float | None
    mean_time_s: float | None
    median_time_s: float | None
    prevalence: float = 0.0
    d_a: float = 0.0
    zroc_slope: float = 1.0
    #: "fitted" (from the ALARM / INSPECT levels) or "assumed"
    zroc_slope_source: str = "assumed"
    per_class: dict[str, ClassScore] = field(default_factory=dict)
    per_scan: list[dict[str, Any]] = field(default_factory=list)
    #: per prevalence block (blocks of the exercise, in order): scans, prevalence, H, F, misses
    blocks: list[dict[str, Any]] = field(default_factory=list)
    correction: str = "rates of 0 and 1 -> 1/(2N) and 1 - 1/(2N) (Macmillan & Kaplan 1985)"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["per_class"] = {
            k: {**asdict(v), "hit_rate": v.hit_rate} for k, v in self.per_class.items()
        }
        return out


def corrected_rate(count: int, n: int) -> float:
    """``count / n`` with 0 -> ``1/(2n)`` and 1 -> ``1 - 1/(2n)``."""
    if n <= 0:
        raise ExerciseError(f"rate: expected at least one trial, got n={n}")
    rate = count / n
    if rate <= 0.0:
        return 1.0 / (2 * n)
    if rate >= 1.0:
        return 1.0 - 1.0 / (2 * n)
    return rate


def d_prime(hit_rate: float, false_alarm_rate: float) -> float:
    """``z(H) - z(F)``; rates must lie strictly between 0 and 1 (correct them first)."""
    z = NormalDist().inv_cdf
    return z(hit_rate) - z(false_alarm_rate)


def a_prime(hit_rate: float, false_alarm_rate: float) -> float:
    """Non-parametric sensitivity A' (0.5 = chance, 1 = perfect) from raw rates in [0, 1]."""
    h, f = hit_rate, false_alarm_rate
    if h == f:
        return 0.5
    if h > f:
        return 0.5 + (h - f) * (1 + h - f) / (4 * h * (1 - f))
    return 0.5 - (f - h) * (1 + f - h) / (4 * f * (1 - h))


def d_a(hit_rate: float, false_alarm_rate: float, slope: float) -> float:
    """Unequal-variance sensitivity ``sqrt(2 / (1 + s^2)) * (z(H) - s z(F))``; rates strictly
    between 0 and 1, ``slope`` the z-ROC slope (noise sd over signal sd)."""
    z = NormalDist().inv_cdf
    return math.sqrt(2.0 / (1.0 + slope**2)) * (z(hit_rate) - slope * z(false_alarm_rate))


def zroc_slope(strict: tuple[float, float], lax: tuple[float, float]) -> tuple[float, str]:
    """Slope of the z-ROC through two (H, F) points (corrected rates), strict criterion first;
    ``(1.0, "assumed")`` when the points are too close or the slope implausible."""
    z = NormalDist().inv_cdf
    dz_f = z(lax[1]) - z(strict[1])
    if abs(dz_f) < 0.25:
        return 1.0, "assumed"
    slope = (z(lax[0]) - z(strict[0])) / dz_f
    if not 0.2 <= slope <= 5.0:
        return 1.0, "assumed"
    return slope, "fitted"


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``x0, y0, x1, y1`` boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def mark_locates(mark: Sequence[float], box: Sequence[float]) -> bool:
    """IoU >= 0.1, or the mark's centre inside the threat box."""
    cx, cy = (mark[0] + mark[2]) / 2, (mark[1] + mark[3]) / 2
    return iou(mark, box) >= MIN_IOU or (box[0] <= cx < box[2] and box[1] <= cy < box[3])


def score(key: Mapping[str, Any], responses: Mapping[str, Response], *, trainee: str = "") -> Score:
    """Score ``responses`` (scan id -> last response) against ``key`` (the key.json mapping)."""
    scans = key.get("scans")
    if not isinstance(scans, list) or not scans:
        raise ExerciseError("key: expected a non-empty 'scans' list")
    per_class = {name: ClassScore() for name in THREAT_CLASSES}
    counts = {"hit": 0, "miss": 0, "fa": 0, "cr": 0}
    located, unanswered = 0, 0
    alarm_hits, alarm_fas = 0, 0
    blocks: dict[int, dict[str, int]] = {}
    times: list[float] = []
    per_scan = []
    for entry in scans:
        sid = str(entry["scan_id"])
        threats = entry.get("threats") or []
        resp = responses.get(sid)
        if resp is None:
            unanswered += 1
            resp = Response("CLEAR", note="unanswered")
        elif resp.seconds is not None:
            times.append(resp.seconds)
        positive = resp.decision in POSITIVE
        found = False
        if threats:
            outcome = "hit" if positive else "miss"
            for t in threats:
                cs = per_class.setdefault(str(t["class_name"]), ClassScore())
                cs.threats += 1
                hit_here = positive and any(mark_locates(m, t["box"]) for m in resp.marks)
                cs.hits += int(positive)
                cs.located += int(hit_here)
                found = found or hit_here
            located += int(positive and found)
        else:
            outcome = "fa" if positive else "cr"
        counts[outcome] += 1
        strict = resp.decision == "ALARM"
        alarm_hits += int(strict and bool(threats))
        alarm_fas += int(strict and not threats)
        b = blocks.setdefault(int(entry.get("block", 1)), {"hit": 0, "miss": 0, "fa": 0, "cr": 0})
        b[outcome] += 1
        per_scan.append(
            {
                "index": entry.get("index"),
                "file": entry.get("file"),
                "scan_id": sid,
                "threat": bool(threats),
                "classes": [t["class_name"] for t in threats],
                "decision": resp.decision,
                "outcome": outcome,
                "located": found if threats else None,
                "seconds": resp.seconds,
                "note": resp.note,
            }
        )
    n_threat = counts["hit"] + counts["miss"]
    n_clean = counts["fa"] + counts["cr"]
    if n_threat == 0 or n_clean == 0:
        raise ExerciseError(
            f"key: expected both threat and clean scans, got {n_threat} threat, {n_clean} clean"
        )
    h_raw, f_raw = counts["hit"] / n_threat, counts["fa"] / n_clean
    h_c, f_c = corrected_rate(counts["hit"], n_threat), corrected_rate(counts["fa"], n_clean)
    strict_point = (corrected_rate(alarm_hits, n_threat), corrected_rate(alarm_fas, n_clean))
    slope, source = zroc_slope(strict_point, (h_c, f_c))
    return Score(
        trainee=trainee,
        exercise=str(key.get("exercise_id", "")),
        n_threat=n_threat,
        n_clean=n_clean,
        hits=counts["hit"],
        misses=counts["miss"],
        false_alarms=counts["fa"],
        correct_rejections=counts["cr"],
        unanswered=unanswered,
        hit_rate=h_raw,
        false_alarm_rate=f_raw,
        hit_rate_corrected=h_c,
        false_alarm_rate_corrected=f_c,
        d_prime=d_prime(h_c, f_c),
        a_prime=a_prime(h_raw, f_raw),
        located=located,
        located_rate=located / counts["hit"] if counts["hit"] else None,
        mean_time_s=sum(times) / len(times) if times else None,
        median_time_s=median(times) if times else None,
        prevalence=n_threat / (n_threat + n_clean),
        d_a=d_a(h_c, f_c, slope),
        zroc_slope=slope,
        zroc_slope_source=source,
        per_class={k: v for k, v in per_class.items() if v.threats},
        per_scan=per_scan,
        blocks=[_block(i, b) for i, b in sorted(blocks.items())],
    )


def _block(index: int, b: dict[str, int]) -> dict[str, Any]:
    n_t, n_c = b["hit"] + b["miss"], b["fa"] + b["cr"]
    return {
        "block": index,
        "scans": n_t + n_c,
        "threat_scans": n_t,
        "prevalence": n_t / (n_t + n_c),
        "hits": b["hit"],
        "misses": b["miss"],
        "false_alarms": b["fa"],
        "hit_rate": b["hit"] / n_t if n_t else None,
        "miss_rate": b["miss"] / n_t if n_t else None,
        "false_alarm_rate": b["fa"] / n_c if n_c else None,
    }


def _seconds(shown: str | None, decided: str | None) -> float | None:
    if not shown or not decided:
        return None
    try:
        a = datetime.fromisoformat(shown.replace("Z", "+00:00"))
        b = datetime.fromisoformat(decided.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((b - a).total_seconds(), 0.0)


def responses_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, Response]:
    """The last decision per scan id from audit rows (as :func:`audit.read_rows` gives)."""
    out: dict[str, Response] = {}
    for r in rows:
        marks_raw = r.get("marks")
        marks = json.loads(marks_raw) if isinstance(marks_raw, str) else (marks_raw or [])
        out[str(r["scan_id"])] = Response(
            decision=str(r["decision"]),
            marks=tuple(tuple(float(v) for v in m["box"]) for m in marks),  # type: ignore[misc]
            seconds=_seconds(r.get("ts_shown"), r.get("ts_decided")),
            note=str(r.get("note") or ""),
        )
    return out


def load_key(exercise: str | Path) -> dict[str, Any]:
    """The answer key of exercise folder ``exercise`` (``key/key.json``)."""
    from backscatter.exercise import KEY_DIR, KEY_NAME

    path = Path(exercise) / KEY_DIR / KEY_NAME
    try:
        key = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExerciseError(f"{exercise}: no answer key ({path} missing)") from None
    except json.JSONDecodeError as exc:
        raise ExerciseError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(key, dict):
        raise ExerciseError(f"{path}: expected a JSON object")
    return key


def score_exercise(exercise: str | Path, trainee: str) -> Score:
    """Score trainee ``trainee`` on exercise folder ``exercise`` from their audit log."""
    from backscatter.audit import read_rows
    from backscatter.exercise import AUDIT_DIR

    key = load_key(exercise)
    db = Path(exercise) / AUDIT_DIR / f"{trainee}.db"
    if not db.is_file():
        raise ExerciseError(f"{exercise}: trainee {trainee!r} has no answers ({db} missing)")
    return score(key, responses_from_rows(read_rows(db)), trainee=trainee)
