"""TIP detectability: can a classifier tell projected threats from native ones, per host kind?

For each host kind (simulator PNG without metadata, simulator DICOS, a second generator's TIFF;
see tests/synth/tip_samples.py) builds N native and N projected threat regions, then prints the
5-fold cross-validated AUROC of logistic regression and gradient boosting (target <= 0.65 on
each) and the feature importances (standardised logistic coefficients, boosting importances),
and, as the reference the check must catch, the same on PNG hosts with the old fallback's dose
error (0.4x). Needs the train extra (scikit-learn).

    .venv/bin/python bench/tip_detectability.py [--n 120] [--kinds png dicos other]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "synth")]

from tip_samples import KINDS, samples  # noqa: E402

from backscatter.synth.tip_check import FEATURES, detectability  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=120, help="regions per side and host kind")
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--seed", type=int, default=2)
    args = p.parse_args()
    runs = [(k, 1.0) for k in args.kinds] + [("png", 0.4)]
    for kind, factor in runs:
        t0 = time.perf_counter()
        native, projected = samples(kind, args.n, seed=args.seed, dose_factor=factor)
        d = detectability(native, projected)
        label = kind if factor == 1.0 else f"{kind}, dose x{factor} (reference)"
        print(f"{label}: {d.n_native} native / {d.n_projected} projected regions, "
              f"AUROC logistic {d.auroc_logistic:.3f}, gradient boosting {d.auroc_boosting:.3f} "
              f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
        for f in FEATURES:
            print(f"    {f:11s} logistic coef {d.logistic_coef[f]:+.2f}   "
                  f"boosting importance {d.boosting_importance[f]:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
