"""Fuzz runner child: read each input of a manifest, print one JSON line per input.

Run as ``python fuzz_child.py MANIFEST START TIMEOUT_S MEMORY_MB``. The manifest is a JSON
list of ``[path, target]``; ``target`` is ``scan`` (``open_scan``) or ``tdr`` (``read_tdr``).
After the imports the address space is capped at the current size + MEMORY_MB (so an
allocation the header asked for fails instead of swapping), and each input gets a SIGALRM
watchdog of TIMEOUT_S. Outcomes: ``ok`` (a valid result), ``typed`` (one of the project's
read errors), ``crash`` (anything else escaped), ``hang`` (watchdog), ``memory`` (MemoryError,
or a typed error that only reports running out of memory).
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any


class Hang(BaseException):
    """Raised by the watchdog; a BaseException so no reader's ``except Exception`` eats it."""


def _alarm(signum: int, frame: object) -> None:
    raise Hang()


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str]) -> int:
    manifest, start, timeout_s, memory_mb = argv[0], int(argv[1]), float(argv[2]), int(argv[3])
    import logging

    import numpy as np
    import pydicom.pixels  # noqa: F401

    from backscatter.acquisition import ReadPolicy
    from backscatter.acquisition.errors import READ_ERRORS
    from backscatter.acquisition.open import open_scan
    from backscatter.dicos.tdr_read import TDRReadError, read_tdr
    from backscatter.scan import Scan

    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    policy = ReadPolicy(max_pixel_bytes=64 * 1024**2, max_file_bytes=64 * 1024**2)
    allowed: dict[str, tuple[type[BaseException], ...]] = {
        "scan": READ_ERRORS,
        "tdr": (TDRReadError, *READ_ERRORS),
    }
    # warm the decoders once so their lazy imports are not counted against the memory cap
    limit = _vm_bytes() + memory_mb * 1024**2
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _alarm)
    with open(manifest) as fh:
        items = json.load(fh)
    for i in range(start, len(items)):
        path, target = items[i]
        rec: dict[str, Any] = {"i": i}
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            if target == "scan":
                scan = open_scan(path, policy=policy)
                assert isinstance(scan, Scan) and scan.pixels.ndim == 2
                assert scan.pixels.nbytes <= policy.max_pixel_bytes
                rec["shape"] = list(scan.pixels.shape)
            else:
                tdr = read_tdr(path)
                n = len(tdr.detections)
                assert np.all(np.isfinite(tdr.detections.boxes)) or n == 0
            rec["outcome"] = "ok"
        except Hang:
            rec["outcome"] = "hang"
        except MemoryError:
            rec["outcome"] = "memory"
        except allowed[target] as exc:
            text = str(exc)
            rec["outcome"] = "memory" if "not enough memory" in text else "typed"
            rec["error"] = f"{type(exc).__name__}: {text[:300]}"
            if path not in text and str(Path(path).with_suffix(".yaml")) not in text:
                rec["outcome"] = "crash"
                rec["error"] = "typed error does not name the input: " + rec["error"]
        except BaseException as exc:  # the finding: something else escaped
            rec["outcome"] = "crash"
            rec["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            rec["where"] = traceback.format_exc(limit=-3)[-1200:]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        rec["ms"] = round((time.perf_counter() - t0) * 1000, 2)
        rec["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
