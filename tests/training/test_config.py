from pathlib import Path

import pytest

from backscatter.classes import THREAT_CLASSES
from backscatter.training.config import ConfigError, config_from_dict, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "train"


@pytest.mark.parametrize("name", ["default.yaml", "tiny.yaml"])
def test_shipped_configs_load_and_resolve_paths(name: str) -> None:
    cfg = load_config(CONFIGS / name)
    assert Path(cfg.data.train).is_absolute()
    assert cfg.classes == THREAT_CLASSES


def test_default_config_sha_is_stable_and_changes_with_content() -> None:
    a = config_from_dict({"data": {"train": "x.json"}})
    b = config_from_dict({"data": {"train": "x.json"}})
    c = config_from_dict({"data": {"train": "x.json"}, "seed": 1})
    assert a.sha256() == b.sha256() != c.sha256()
    assert config_from_dict(a.to_dict()) == a


def test_init_sha256_is_a_check_left_out_of_the_config_hash() -> None:
    import hashlib
    import json

    a = config_from_dict({"data": {"train": "x.json"}})
    without = {k: v for k, v in a.to_dict().items() if k != "init_sha256"}
    # keys added with 2.0 are left out while at their default (the 1.x hashes still match)
    del without["model"]["out_stride"], without["data"]["stream"]
    del without["augment"]["range_jitter"]
    for key in ("norm", "robust_low", "robust_high", "clip_low", "clip_high"):
        del without["preprocess"][key]
    assert a.sha256() == hashlib.sha256(json.dumps(without, sort_keys=True).encode()).hexdigest()
    pinned = config_from_dict({"data": {"train": "x.json"}, "init_sha256": "ab" * 32})
    assert pinned.sha256() == a.sha256()


def test_a_new_key_away_from_its_default_changes_the_hash() -> None:
    a = config_from_dict({"data": {"train": "x.json"}})
    b = config_from_dict({"data": {"train": "x.json"}, "model": {"out_stride": 8}})
    c = config_from_dict({"data": {"stream": {"scenes_per_epoch": 64}}})
    assert len({a.sha256(), b.sha256(), c.sha256()}) == 3


def test_stream_config_loads_holdouts_and_refuses_a_trained_holdout_profile() -> None:
    cfg = config_from_dict(
        {"data": {"stream": {"scenes_per_epoch": 64, "holdout_subtypes": {"firearm": ["x"]}}}}
    )
    assert cfg.data.stream.holdout_subtypes == {"firearm": ("x",)}
    with pytest.raises(ConfigError, match="held-out profile"):
        config_from_dict({"data": {"stream": {"profiles": ["compact"]}}})


def test_v2_config_is_the_stride8_robust_stream_recipe() -> None:
    cfg = load_config(CONFIGS / "v2-stage1.yaml")
    assert cfg.model.out_stride == 8 and cfg.preprocess.norm == "robust"
    assert cfg.data.stream.scenes_per_epoch > 0 and not cfg.data.train
    assert cfg.data.stream.holdout_profile not in cfg.data.stream.profiles


@pytest.mark.parametrize("name", ["stage4.yaml", "stage5.yaml"])
def test_stages_from_a_release_pin_the_file_they_started_from(name: str) -> None:
    cfg = load_config(CONFIGS / name)
    assert cfg.init_weights.endswith(".onnx") and len(cfg.init_sha256) == 64


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"optim: unknown key\(s\) \['lrate'\]"):
        config_from_dict({"optim": {"lrate": 0.1}})


def test_wrong_type_is_named() -> None:
    with pytest.raises(ConfigError, match=r"optim\.epochs: expected an integer, got 'ten'"):
        config_from_dict({"optim": {"epochs": "ten"}})


def test_crop_must_be_multiple_of_32() -> None:
    with pytest.raises(ConfigError, match="data.crop: expected a multiple of 32, got 100"):
        config_from_dict({"data": {"crop": 100}})


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_missing_train_path(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("seed: 3\n")
    with pytest.raises(ConfigError, match="data.train: expected a COCO json path"):
        load_config(p)
