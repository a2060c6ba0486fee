"""Build an exercise: clean scans, a share of them with a projected threat, and the answer key.

Every exercise scan is rewritten as a DICOS DX file with a fresh UID and a neutral name
(``scans/0001.dcm`` ...), in a shuffled order, so nothing in the trainee's folder tells a threat
scan from a clean one. The answer key (``key/key.json`` and a GROUND TRUTH TDR per scan) lives in
a separate folder the trainee's viewer never opens.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.detections import Detections
from backscatter.exercise import KEY_DIR, KEY_NAME, SCANS_DIR, ExerciseError
from backscatter.scan import Scan

log = logging.getLogger(__name__)

#: file suffixes taken from the clean folder
CLEAN_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".dcm", ".dcs", ".dicos"})
#: projection attempts per threat scan (another class or host after a failed placement)
ATTEMPTS = 6


def _clean_files(clean_dir: Path) -> list[Path]:
    if not clean_dir.is_dir():
        raise ExerciseError(f"--clean {clean_dir}: not a folder")
    files = sorted(
        f for f in clean_dir.iterdir() if f.is_file() and f.suffix.lower() in CLEAN_SUFFIXES
    )
    if not files:
        raise ExerciseError(f"--clean {clean_dir}: no scan files ({', '.join(CLEAN_SUFFIXES)})")
    return files


def _anonymous(scan: Scan, salt: str) -> Scan:
    """The same pixels under a fresh UID, with no trace of the source file or of TIP."""
    from pydicom.uid import generate_uid

    digest = hashlib.sha256(scan.pixels.tobytes()).hexdigest()
    uid = str(generate_uid(entropy_srcs=["backscatter-exercise", salt, digest]))
    return scan.with_pixels(
        scan.pixels,
        scan_id=uid,
        source_uri="",
        source_sha256=None,
        sop_class_uid=None,
        object_type="DX",
        extras={},
    )


def _measure_hosts(
    files: Sequence[Path],
) -> tuple[list[Path], list[Any], dict[str, str], Any, Any]:
    """Open and measure every clean scan once; a host TIP cannot use is refused with one line
    (logged) and the others go on. The gain is pooled over the hosts (one device, one
    detector) before each host's offset, region, raster and blur are measured. Returns usable
    files, their facts, refusals, the profile their metadata names, the pooled gain."""
    from backscatter.acquisition.errors import ScanReadError
    from backscatter.acquisition.open import open_scan
    from backscatter.synth.physics import PROFILES
    from backscatter.synth.tip_dose import device_gain, device_profile, host_facts
    from backscatter.synth.tip_host import TipError, photon_transfer

    def refuse(f: Path, exc: Exception) -> None:
        refused[f.name] = str(exc)
        log.warning("refused host %s", exc if f.name in str(exc) else f"{f.name}: {exc}")

    scans, noises = [], []
    refused: dict[str, str] = {}
    for f in files:
        try:
            scan = open_scan(f)
            noises.append(photon_transfer(scan.pixels, name=f.name))
        except (TipError, ScanReadError, OSError) as exc:
            refuse(f, exc)
            continue
        scans.append((f, scan))
    if not scans:
        return [], [], refused, None, None
    gain = device_gain(noises)
    usable, facts, profiles = [], [], set()
    for f, scan in scans:
        try:
            facts.append(host_facts(scan, name=f.name, gain=gain))
        except TipError as exc:
            refuse(f, exc)
            continue
        usable.append(f)
        prof = device_profile(scan)
        profiles.add(prof.name if prof is not None else None)
    name = profiles.pop() if len(profiles) == 1 else None
    return usable, facts, refused, PROFILES.get(name) if name else None, gain


def _plan(
    blocks: Sequence[tuple[int, float]], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Threat flags and block index per scan (blocks in order, threats shuffled within each)."""
    flags, index, info = [], [], []
    for b, (n, prevalence) in enumerate(blocks, start=1):
        if n < 1 or not 0.0 <= prevalence <= 1.0:
            raise ExerciseError(
                f"block {b}: expected N:PREVALENCE with N >= 1 and 0..1, got {n}:{prevalence}"
            )
        n_threat = int(round(prevalence * n))
        is_threat = np.zeros(n, bool)
        is_threat[rng.choice(n, n_threat, replace=False)] = True
        flags.append(is_threat)
        index += [b] * n
        info.append({"block": b, "scans": n, "prevalence": prevalence, "n_threat": n_threat})
    return np.concatenate(flags), np.array(index), info


def build_exercise(
    clean_dir: str | Path,
    out: str | Path,
    *,
    scans: int,
    threat_ratio: float,
    seed: int,
    classes: Sequence[str] | None = None,
    blocks: Sequence[tuple[int, float]] | None = None,
    family: str | None = None,
    placement: str = "scene",
) -> Path:
    """Write exercise folder ``out`` from the clean scans in ``clean_dir``; returns key.json.

    ``round(threat_ratio * scans)`` scans carry one projected threat of a class drawn from
    ``classes`` (all five by default). ``blocks`` (``(scans, prevalence)`` each, shown in order)
    replaces ``scans`` and ``threat_ratio``: e.g. ``[(20, 0.5), (100, 0.02)]``. Every clean
    scan is measured first (noise, dose, raster, blur); hosts whose noise is not Poisson-like are
    refused, one logged line each; the gain, dose and blur are pooled over the rest (one
    device) and written to the key with their uncertainty. ``family`` names the hosts' scene
    kind (default: inferred per host); ``placement="anywhere"`` drops the scene rules. Hosts
    are drawn without replacement while they last. Deterministic in ``seed``.
    """
    from backscatter.acquisition.open import open_scan
    from backscatter.dicos import write_dx, write_ground_truth_tdr
    from backscatter.synth.tip import TipError, project_threat
    from backscatter.synth.tip_dose import estimate_dose

    plan = list(blocks) if blocks else [(scans, threat_ratio)]
    if not blocks:
        if scans < 1:
            raise ExerciseError(f"--scans: expected at least 1, got {scans}")
        if not 0.0 <= threat_ratio <= 1.0:
            raise ExerciseError(f"--threat-ratio: expected 0..1, got {threat_ratio}")
    names = list(classes) if classes else list(THREAT_CLASSES)
    bad = [c for c in names if c not in THREAT_CLASSES]
    if bad:
        raise ExerciseError(f"--classes: expected names from {THREAT_CLASSES}, got {bad}")
    files = _clean_files(Path(clean_dir))
    out = Path(out)
    if (out / KEY_DIR / KEY_NAME).exists():
        raise ExerciseError(f"--out {out}: already holds an exercise (key/key.json exists)")
    rng = np.random.default_rng(seed)
    is_threat, block_of, block_info = _plan(plan, rng)
    scans = int(is_threat.size)
    n_threat = int(is_threat.sum())
    files, facts, refused, profile, gain = _measure_hosts(files)
    if not files:
        raise ExerciseError(f"--clean {clean_dir}: no usable host (all {len(refused)} refused)")
    prior = None if family in (None, "auto") else family
    try:
        dose = estimate_dose(facts, family=prior, profile=profile)
    except TipError as exc:
        raise ExerciseError(f"--family: {exc}") from None
    (out / SCANS_DIR).mkdir(parents=True, exist_ok=True)
    (out / KEY_DIR).mkdir(parents=True, exist_ok=True)

    if scans > len(files):
        log.warning(
            "%d scans from %d clean scans: hosts are reused, and a trainee may see the same "
            "background twice",
            scans,
            len(files),
        )
    order = [int(i) for i in rng.permutation(len(files))]
    hosts = [order[i % len(files)] for i in range(scans)]
    exercise_id = hashlib.sha256(
        json.dumps([seed, plan, names, family, placement, [f.name for f in files]]).encode()
    ).hexdigest()[:16]

    entries: list[dict[str, Any]] = []
    for i in range(scans):
        h = hosts[i]
        host = open_scan(files[h])
        truth = Detections.empty()
        tip_params: dict[str, Any] | None = None
        scan = host
        if is_threat[i]:
            for attempt in range(ATTEMPTS):
                cls = str(rng.choice(names))
                try:
                    tip = project_threat(
                        host, cls, rng=rng, dose=dose, facts=facts[h], family=family,
                        placement=placement,
                    )  # fmt: skip
                except TipError as exc:
                    log.info("%s: %s (attempt %d)", files[h].name, exc, attempt + 1)
                    h = int(rng.integers(len(files)))
                    host = open_scan(files[h])
                    continue
                if tip.params.get("hidden"):
                    continue  # a threat nobody could see is no fair question
                scan, truth, tip_params = tip.scan, tip.detections, tip.params
                break
            else:
                raise ExerciseError(
                    f"scan {i + 1}: no threat could be projected into {files[h].name} "
                    f"after {ATTEMPTS} attempts (hosts too small or empty?)"
                )
        scan = _anonymous(scan, f"{exercise_id}/{i}")
        name = f"{i + 1:04d}"
        dx_path = out / SCANS_DIR / f"{name}.dcm"
        uid = write_dx(scan, dx_path)
        tdr_path = out / KEY_DIR / f"{name}_gt.dcm"
        write_ground_truth_tdr(scan, truth, tdr_path, annotator="backscatter exercise key")
        entries.append(
            {
                "index": i + 1,
                "block": int(block_of[i]),
                "file": f"{SCANS_DIR}/{dx_path.name}",
                "scan_id": uid,
                "host": files[h].name,
                "threat": bool(len(truth)),
                "threats": [
                    {"class_name": r["class_name"], "box": r["box"]} for r in truth.to_records()
                ],
                "tdr": f"{KEY_DIR}/{tdr_path.name}",
                "tip": tip_params,
            }
        )
    key = {
        "exercise_id": exercise_id,
        "seed": seed,
        "scans": entries,
        "n_scans": scans,
        "n_threat": n_threat,
        "threat_ratio": n_threat / scans,
        "blocks": block_info,
        "classes": names,
        "clean_dir": str(Path(clean_dir).resolve()),
        "device": {
            **dose.to_dict(),
            "gain_dn_per_photon": gain.gain,
            "gain_se": gain.gain_se,
        },
        "hosts": {
            f.name: {
                "gain_dn_per_photon": x.noise.gain,
                "gain_se": x.noise.gain_se,
                "dark_dn": x.noise.dark,
                "flat_tiles": x.noise.n_tiles,
                "median_photons": x.median_counts,
                "blur_px": x.blur_px,
            }
            for f, x in zip(files, facts, strict=True)
        },
        "refused_hosts": refused,
    }
    path = out / KEY_DIR / KEY_NAME
    path.write_text(json.dumps(key, indent=1, default=_jsonable) + "\n", encoding="utf-8")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
