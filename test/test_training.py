"""Training: it learns, it resumes exactly, and it refuses bad input clearly."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from anchor_reloc_ros.core.checkpoint import load_checkpoint
from anchor_reloc_ros.core.errors import CheckpointError, ConfigError, DatasetError
from anchor_reloc_ros.core.metrics import pose_errors
from anchor_reloc_ros.core.preprocessing import to_network_input
from anchor_reloc_ros.training.config import TrainConfig
from anchor_reloc_ros.training.trainer import Trainer
from synthetic_fixture import make_strip_dataset

ROOT = Path(__file__).resolve().parents[1]


def _config(data: Path, out: Path, **kw: object) -> TrainConfig:
    base = dict(data=data, out=out, backbone="tiny_cnn", pretrained=False, image_size=(48, 64), epochs=4,
                batch_size=8, anchor_every=4, lr=3e-3, head_hidden=64, device="cpu", seed=0, val_every=0, save_every_s=0.0)
    base.update(kw)
    return TrainConfig(**base)


@torch.inference_mode()
def _training_error(trainer: Trainer) -> float:
    trainer.model.eval()
    x = to_network_input(torch.from_numpy(trainer.data.train_images), trainer.device, torch.float32)
    d = trainer.decoder.decode(trainer.model(x))
    p = np.stack([f.position for f in trainer.data.train_frames])
    q = np.stack([f.quat_wxyz for f in trainer.data.train_frames])
    return float(np.median(pose_errors(d.positions, d.quats_wxyz, p, q)[0]))


@pytest.mark.parametrize("head", ["anchor", "posenet"])
def test_overfitting_16_images_cuts_error_5x(tmp_path: Path, head: str) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=16, n_test=2)
    trainer = Trainer(_config(data, tmp_path / "run", head=head, epochs=100, batch_size=16, augment=False,
                              dropout=0.0, lr=5e-3), progress=False)
    before = _training_error(trainer)
    trainer.run()
    after = _training_error(trainer)
    assert after * 5 <= before, (before, after)


def test_killed_run_resumes_to_identical_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=24, n_test=2)
    full = Trainer(_config(data, tmp_path / "full", val_every=6), progress=False)
    full.run()

    run_killed_during_epoch_3(_config(data, tmp_path / "killed", val_every=6), monkeypatch)
    resumed = Trainer(_config(data, tmp_path / "killed", val_every=6, resume=True), progress=False)
    assert resumed.start_epoch == 2
    resumed.run()
    assert_same_run(tmp_path / "full", tmp_path / "killed", epochs=4)


def run_killed_during_epoch_3(config: TrainConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Train ``config`` until the process is killed (KeyboardInterrupt) during epoch 3."""
    original = Trainer._train_epoch

    def dies_at_epoch_2(self: Trainer, epoch: int) -> dict:
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "_train_epoch", dies_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config, progress=False).run()
    monkeypatch.setattr(Trainer, "_train_epoch", original)


def assert_same_run(full: Path, resumed: Path, epochs: int) -> None:
    """The resumed run ended with the uninterrupted run's weights and one CSV row per epoch."""
    a = load_checkpoint(full / "last.safetensors").model.state_dict()
    b = load_checkpoint(resumed / "last.safetensors").model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    with open(resumed / "metrics.csv") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == list(range(1, epochs + 1))


def test_sigkill_then_resume_from_the_cli(tmp_path: Path) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=24, n_test=2)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "anchor_reloc_ros.tools.cli", "train", "--data", str(data), "--out", str(out),
           "--backbone", "tiny_cnn", "--no-pretrained", "--image-size", "64x48", "--epochs", "400",
           "--anchor-every", "4", "--device", "cpu", "--quiet", "--save-every", "0"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / "train_state.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    state_epoch = int(torch.load(out / "train_state.pt", weights_only=True)["epoch"])
    assert state_epoch < 399, "the run finished before it could be killed"
    load_checkpoint(out / "last.safetensors")  # atomic writes: never a half-written checkpoint
    # resume for a few more epochs only
    cmd[cmd.index("400")] = str(state_epoch + 3)
    done = subprocess.run(cmd + ["--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with open(out / "metrics.csv") as fh:
        epochs = [int(r["epoch"]) for r in csv.DictReader(fh)]
    assert epochs == list(range(1, state_epoch + 4))


def test_kill_right_after_a_checkpoint_loses_no_metrics_row(tmp_path: Path) -> None:
    """A kill between the checkpoint and the CSV write must not leave a hole in metrics.csv."""
    data = make_strip_dataset(tmp_path / "data", n_train=12, n_test=2)
    trainer = Trainer(_config(data, tmp_path / "run", epochs=3), progress=False)
    write = trainer._write_checkpoints

    def write_then_die(epoch: int, metadata: dict) -> None:
        write(epoch, metadata)
        if epoch == 1:
            raise KeyboardInterrupt  # the process dies right after the second checkpoint

    trainer._write_checkpoints = write_then_die  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    Trainer(_config(data, tmp_path / "run", epochs=3, resume=True), progress=False).run()
    with open(tmp_path / "run" / "metrics.csv") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1, 2, 3]


def test_existing_run_needs_resume_and_bad_options(tmp_path: Path) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=12, n_test=2)
    Trainer(_config(data, tmp_path / "run", epochs=1), progress=False).run()
    with pytest.raises(ConfigError, match="--resume"):
        Trainer(_config(data, tmp_path / "run", epochs=1), progress=False)
    with pytest.raises(ConfigError, match="--epochs"):
        Trainer(_config(data, tmp_path / "x", epochs=0), progress=False)
    with pytest.raises(DatasetError, match="not found"):
        Trainer(_config(tmp_path / "missing", tmp_path / "y"), progress=False)


def test_frozen_backbone_feature_cache_is_reused(tmp_path: Path) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=16, n_test=2)
    cfg = _config(data, tmp_path / "run", freeze_backbone=True, epochs=3, feature_cache_augmentations=2)
    trainer = Trainer(cfg, progress=False)
    assert trainer.features["train"].shape[:2] == (3, 16)  # clean + 2 augmented copies
    initial_backbone = {k: v.clone() for k, v in trainer.model.backbone.state_dict().items()}
    trainer.run()
    cache = tmp_path / "run" / "feature_cache.safetensors"
    stamp = cache.stat().st_mtime_ns
    cfg2 = _config(data, tmp_path / "run", freeze_backbone=True, epochs=5, feature_cache_augmentations=2,
                   resume=True)
    Trainer(cfg2, progress=False).run()
    assert cache.stat().st_mtime_ns == stamp
    # the backbone stayed frozen (weights and BatchNorm statistics), only the heads learned
    saved = load_checkpoint(tmp_path / "run" / "last.safetensors").model
    for k, v in saved.backbone.state_dict().items():
        assert torch.equal(v, initial_backbone[k]), k


def _pickle_with_a_python_object(path: Path) -> None:
    torch.save({"model": Path("not/a/tensor")}, path)  # a global weights_only refuses to load


@pytest.mark.parametrize("kind, write", [
    ("random bytes", lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096))),
    ("a foreign pickle", _pickle_with_a_python_object),
    ("a state without its keys", lambda p: torch.save({"epoch": 3}, p)),
    ("an empty file", lambda p: p.write_bytes(b"")),
])
def test_resume_from_a_corrupt_state_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                       kind: str, write) -> None:
    from anchor_reloc_ros.tools.cli import main

    data = make_strip_dataset(tmp_path / "data", n_train=8, n_test=2)
    state = tmp_path / "run" / "train_state.pt"
    state.parent.mkdir()
    write(state)
    code = main(["train", "--data", str(data), "--out", str(state.parent), "--backbone", "tiny_cnn",
                 "--no-pretrained", "--image-size", "64x48", "--epochs", "2", "--device", "cpu", "--quiet",
                 "--resume"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"training state {state} is corrupt" in err and "delete it" in err, err
    assert "weights_only" not in err and "unpickl" not in err.replace("never unpickled", ""), err


def test_resume_with_other_options_is_one_clear_line(tmp_path: Path) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=12, n_test=2)
    Trainer(_config(data, tmp_path / "run", epochs=1), progress=False).run()
    with pytest.raises(CheckpointError, match=r"train_state.pt does not fit this run.*RuntimeError"):
        Trainer(_config(data, tmp_path / "run", epochs=2, head_hidden=32, resume=True), progress=False)


def test_best_is_the_final_model_when_validation_is_too_small_to_choose(tmp_path: Path) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=24, n_test=2)
    trainer = Trainer(_config(data, tmp_path / "run", val_every=6), progress=False)
    assert 0 < len(trainer.data.val_frames) < 20
    trainer.run()
    a = load_checkpoint(tmp_path / "run" / "best.safetensors").model.state_dict()
    b = load_checkpoint(tmp_path / "run" / "last.safetensors").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_frozen_training_restores_the_callers_thread_count(tmp_path: Path) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=16, n_test=2)
    trainer = Trainer(_config(data, tmp_path / "run", freeze_backbone=True, min_steps=0), progress=False)
    before = torch.get_num_threads()
    trainer.run()
    assert torch.get_num_threads() == before


def test_validation_comes_from_the_datasets_val_split_when_it_has_one(tmp_path: Path) -> None:
    from anchor_reloc_ros.data.cambridge import read_cambridge, write_cambridge_split
    from anchor_reloc_ros.training.prepare import train_val_frames

    data = make_strip_dataset(tmp_path / "data", n_train=20)
    s = train_val_frames(data, "auto", 5)  # no val split: every 5th training frame
    assert (len(s.train), len(s.val), s.source) == (16, 4, "train")
    with pytest.raises(DatasetError, match="has no val split"):
        train_val_frames(data, "split", 5)
    write_cambridge_split(data, "val", read_cambridge(data, "test").frames[:3])  # a second walk
    s = train_val_frames(data, "auto", 5)
    assert len(s.train) == 20 and s.source == "split"
    assert [f.name for f in s.val] == [f.name for f in read_cambridge(data, "test").frames[:3]]
    s = train_val_frames(data, "train", 5)  # the old rule on request
    assert (len(s.train), len(s.val), s.source) == (16, 4, "train")
    trainer = Trainer(_config(data, tmp_path / "run", val_every=5), progress=False)
    assert len(trainer.data.val_frames) == 3 and len(trainer.data.train_frames) == 20
    with pytest.raises(ConfigError, match="--val-source"):
        TrainConfig(data, tmp_path / "x", val_source="test").validate()


@pytest.mark.parametrize("smoothing", [-0.1, 1.0])
def test_label_smoothing_outside_0_1_is_a_config_error(tmp_path: Path, smoothing: float) -> None:
    with pytest.raises(ConfigError, match="--label-smoothing"):
        TrainConfig(tmp_path, tmp_path / "x", label_smoothing=smoothing).validate()
