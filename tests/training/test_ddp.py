import os
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from .conftest import TINY

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def test_two_process_ddp_ends_with_identical_weights(
    tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    train_json, _ = tiny_data
    cfg = {**TINY, "data": {**TINY["data"], "train": str(train_json)}}
    cfg["optim"] = {**TINY["optim"], "epochs": 2, "batch_size": 4}
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "ddp_worker.py"), str(path), str(out)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0 = torch.load(out / "rank0.pt", weights_only=True)
    w1 = torch.load(out / "rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # the run did train: weights moved away from the seeded initialisation
    torch.manual_seed(0)
    from backscatter.training.config import config_from_dict
    from backscatter.training.model import build_model

    init = build_model(5, config_from_dict(cfg).model).state_dict()
    assert not torch.equal(init["stem.0.0.weight"], w0["stem.0.0.weight"])
    assert (out / "last.pt").is_file()
