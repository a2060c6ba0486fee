"""Shared fixtures for the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness.seeds import Seed, own_seeds, sample_seeds


@pytest.fixture(scope="session")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[Seed]:
    return own_seeds(tmp_path_factory.mktemp("seeds")) + sample_seeds()


@pytest.fixture(scope="session")
def own_tdr(seeds: list[Seed], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tdr") / "own.dcm"
    path.write_bytes(next(s.data for s in seeds if s.name == "own-tdr"))
    return path
