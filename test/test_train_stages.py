"""Partial fine-tuning (--train-stages): the split is exact, it learns, resumes and exports unchanged."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from anchor_reloc_ros.core.backbones import STAGE_COUNTS, check_train_stages, get_backbone_spec, split_backbone
from anchor_reloc_ros.core.checkpoint import load_checkpoint
from anchor_reloc_ros.core.errors import ConfigError
from anchor_reloc_ros.core.preprocessing import to_network_input
from anchor_reloc_ros.training.trainer import Trainer
from synthetic_fixture import make_strip_dataset
from test_training import _config, _training_error, assert_same_run, run_killed_during_epoch_3

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["tiny_cnn", "efficientnet_lite0", "mobilenet_v3_small", "mobilenet_v3_large"])
def test_prefix_then_suffix_is_the_backbone(name: str) -> None:
    torch.manual_seed(0)
    backbone = get_backbone_spec(name).build(False).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        whole = backbone(x)
        for n in range(1, STAGE_COUNTS[name]):
            prefix, suffix = split_backbone(name, backbone, n)
            assert len(suffix) == n
            torch.testing.assert_close(suffix(prefix(x)), whole, rtol=0, atol=0)
            # shared modules, no copies: the suffix's weights are the backbone's ...
            assert {id(p) for p in suffix.parameters()} <= {id(p) for p in backbone.parameters()}
            # ... and none of them is also the prefix's (freezing the prefix must leave them trainable)
            assert not {id(p) for p in suffix.parameters()} & {id(p) for p in prefix.parameters()}
            assert any(True for _ in suffix.parameters())


def test_out_of_range_or_unsupported_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tiny_cnn must be in 1\.\.3"):
        check_train_stages("tiny_cnn", 4)
    with pytest.raises(ConfigError, match=r"efficientnet_lite0 must be in 1\.\.8"):
        check_train_stages("efficientnet_lite0", -1)
    with pytest.raises(ConfigError, match="not supported for backbone 'densenet121'"):
        check_train_stages("densenet121", 1)
    data = make_strip_dataset(tmp_path / "data", n_train=8, n_test=2)
    with pytest.raises(ConfigError, match="exclude each other"):
        Trainer(_config(data, tmp_path / "a", train_stages=1, freeze_backbone=True), progress=False)
    cmd = [sys.executable, "-m", "anchor_reloc_ros.tools.cli", "train", "--data", str(data), "--out",
           str(tmp_path / "b"), "--backbone", "tiny_cnn", "--no-pretrained", "--train-stages", "9"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "1..3" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_last_stage_learns_prefix_and_batchnorm_stay_frozen(tmp_path: Path) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=16, n_test=2)
    # feature_norm: an untrained tiny_cnn's pooled features are tiny; standardised, 100 epochs fit them
    trainer = Trainer(_config(data, tmp_path / "run", train_stages=1, epochs=100, min_steps=0, batch_size=16,
                              augment=False, dropout=0.0, lr=5e-3, feature_norm=True), progress=False)
    assert trainer.features["train"].dtype == torch.float16
    assert trainer.features["train"].shape[:3] == (1, 16, 128)  # clean view only; last stage's input channels
    before_state = {k: v.clone() for k, v in trainer.model.backbone.state_dict().items()}
    before = _training_error(trainer)
    trainer.run()
    after = _training_error(trainer)
    assert after * 5 <= before, (before, after)
    after_state = trainer.model.backbone.state_dict()
    for k, v in after_state.items():
        # tiny_cnn's 4th stage is body.9 (conv) + body.10 (BatchNorm, whose statistics stay frozen)
        trainable = k.startswith(("body.9.", "body.10.")) and "running" not in k and "num_batches" not in k
        if trainable:
            assert not torch.equal(v, before_state[k]), f"{k} did not train"
        else:
            assert torch.equal(v, before_state[k]), f"{k} changed (prefix or BatchNorm statistics)"
    # the checkpoint is the ordinary RelocNet and gives the training model's outputs
    loaded = load_checkpoint(tmp_path / "run" / "last.safetensors").model.eval()
    trainer.model.eval()
    x = to_network_input(torch.from_numpy(trainer.data.train_images[:1]), torch.device("cpu"), torch.float32)
    with torch.no_grad():
        want, got = trainer.model(x), loaded(x)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-5)


def test_killed_staged_run_resumes_to_identical_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=24, n_test=2)
    cfg = dict(val_every=6, train_stages=1, min_steps=0, feature_cache_augmentations=2, feature_norm=True)
    full = Trainer(_config(data, tmp_path / "full", **cfg), progress=False)
    assert full.features["train"].shape[0] == 3  # clean + 2 augmented views
    # feature standardisation from the initial suffix's pooled output over every cached view
    pooled = full.stages.pooled_features(full.features["train"].flatten(0, 1), full.device)
    torch.testing.assert_close(full.model.feat_mean_F, pooled.mean(dim=0))
    full.run()
    run_killed_during_epoch_3(_config(data, tmp_path / "killed", **cfg), monkeypatch)
    cache = tmp_path / "killed" / "stage_cache.safetensors"
    stamp = cache.stat().st_mtime_ns
    resumed = Trainer(_config(data, tmp_path / "killed", resume=True, **cfg), progress=False)
    assert resumed.start_epoch == 2
    resumed.run()
    assert cache.stat().st_mtime_ns == stamp  # the activations were reused, not recomputed
    assert_same_run(tmp_path / "full", tmp_path / "killed", epochs=4)


def test_min_steps_floor_applies(tmp_path: Path) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=8, n_test=2)
    trainer = Trainer(_config(data, tmp_path / "run", train_stages=2, epochs=1, min_steps=10, batch_size=8,
                              augment=False), progress=False)
    assert trainer.epochs == 10  # 8 cached rows in one batch per epoch
