"""Run by test_ddp under torchrun: train a config, save this rank's final weights."""

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from backscatter.training.config import load_config
from backscatter.training.engine import train


def main() -> None:
    config, out = sys.argv[1], Path(sys.argv[2])
    result = train(load_config(config), out, progress=False)
    torch.save(result.state, out / f"rank{os.environ['RANK']}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
