"""The out-of-scene score: stored by training, calibrated on validation, gates garbage frames."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from anchor_reloc_ros.core.checkpoint import load_checkpoint, read_metadata
from anchor_reloc_ros.core.frame_gate import pose_gate_for
from anchor_reloc_ros.core.gate import GateLimits
from anchor_reloc_ros.core.localizer import Localizer
from anchor_reloc_ros.core.ood import BANK_KEY, DEFAULT_K, MAX_BANK_ROWS, OodCalibration, knn_cosine_distance, make_bank, ood_score
from anchor_reloc_ros.data.loader import load_dataset
from anchor_reloc_ros.tools.cli import main as cli_main
from anchor_reloc_ros.training.image_cache import read_rgb
from ros_node_harness import make_untrained_checkpoint

DEFAULT_LIMITS = GateLimits()  # the node's defaults: its parameters are generated from it


def garbage_frames(h: int = 48, w: int = 64, n_noise: int = 8) -> list[np.ndarray]:
    """Uniform noise, all-black and all-white frames."""
    rng = np.random.default_rng(5)
    noise = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n_noise)]
    return noise + [np.zeros((h, w, 3), np.uint8), np.full((h, w, 3), 255, np.uint8)]


def test_training_stores_the_bank_and_a_validation_threshold(tiny_checkpoint: Path) -> None:
    ood = OodCalibration.from_metadata(read_metadata(tiny_checkpoint))
    assert ood is not None and ood.threshold > 0 and ood.quantile == 0.99 and ood.val_frames == 8
    with safe_open(str(tiny_checkpoint), "pt") as fh:
        rows = fh.get_slice(BANK_KEY).get_shape()[0]
    assert 0 < rows <= MAX_BANK_ROWS


def test_default_gate_takes_noise_black_and_white_but_not_the_scene_for_out_of_scene(tiny_checkpoint: Path,
                                                                       strip_dataset: Path) -> None:
    localizer = Localizer.from_checkpoint(tiny_checkpoint, device="cpu")
    gate = pose_gate_for(localizer.metadata, localizer.decoder.calibration)
    garbage = [gate.check(e, DEFAULT_LIMITS) for e in localizer.localize_batch(garbage_frames())]
    assert all(not d.passed and d.reason.startswith("out_of_scene") for d in garbage), \
        [d.reason for d in garbage]
    scene = [read_rgb(str(f.image_path)) for f in load_dataset(strip_dataset, "test").frames]
    # at the validation threshold (1.0; the default 0.9 is stricter) the scene's own frames are
    # not taken for foreign ones (the std test may still withhold the less certain of them)
    at_threshold = replace(DEFAULT_LIMITS, max_ood_score=1.0)
    reasons = [gate.check(e, at_threshold).reason for e in localizer.localize_batch(scene)]
    assert np.mean([not r.startswith("out_of_scene") for r in reasons]) >= 0.75, reasons


def test_calibrate_ood_adds_the_score_to_an_existing_checkpoint(strip_dataset: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    weights = make_untrained_checkpoint(tmp_path / "old.safetensors")  # as the bundled demo weights: no score
    assert OodCalibration.from_metadata(read_metadata(weights)) is None
    assert np.isnan(Localizer.from_checkpoint(weights, device="cpu").localize(garbage_frames()[0]).ood_score)
    out = tmp_path / "new.safetensors"
    assert cli_main(["calibrate-ood", "--weights", str(weights), "--data", str(strip_dataset),
                     "--out", str(out)]) == 0
    assert "out-of-scene threshold" in capsys.readouterr().out
    assert OodCalibration.from_metadata(read_metadata(out)).k == DEFAULT_K
    assert np.isfinite(Localizer.from_checkpoint(out, device="cpu").localize(garbage_frames()[0]).ood_score)
    # --k: the score of the k-th neighbour, stored with the threshold and inside the network
    assert cli_main(["calibrate-ood", "--weights", str(weights), "--data", str(strip_dataset),
                     "--out", str(out), "--k", "2"]) == 0
    assert "k = 2" in capsys.readouterr().out
    assert OodCalibration.from_metadata(read_metadata(out)).k == 2
    assert load_checkpoint(out).model.ood_k == 2


def test_calibrate_ood_errors_name_the_file(tmp_path: Path, strip_dataset: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.safetensors"
    assert cli_main(["calibrate-ood", "--weights", str(missing), "--data", str(strip_dataset)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err
    assert cli_main(["calibrate-ood", "--weights", str(missing), "--data", str(strip_dataset), "--k", "0"]) == 2
    assert "--k must be >= 1, got 0" in capsys.readouterr().err


def test_the_score_sees_a_feature_that_points_right_but_is_far_too_long() -> None:
    bank = make_bank(torch.randn(50, 16))
    feat = bank[:1] * 10.0                          # a training direction, the training length ...
    norm_3 = torch.tensor([float(np.log(10.0)), 0.1, 0.05])
    assert float(ood_score(feat, bank, 1, norm_3)) == pytest.approx(0.0, abs=1e-5)
    long = feat * 2.7                               # ... then e times longer: 10 std of log-norm
    assert float(knn_cosine_distance(long, bank, 1)) == pytest.approx(0.0, abs=1e-5)
    assert float(ood_score(long, bank, 1, norm_3)) == pytest.approx(0.05 * np.log(2.7) / 0.1, rel=1e-4)
    assert float(ood_score(long, bank, 1, None)) == pytest.approx(0.0, abs=1e-5)  # older checkpoints


def test_gate_eval_reports_each_kind(tiny_checkpoint: Path, strip_dataset: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gate"
    assert cli_main(["gate-eval", "--weights", str(tiny_checkpoint), "--data", str(strip_dataset),
                     "--noise-frames", "4", "--other", str(strip_dataset), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["decode"], summary["views"]) == ("argmax", 1)   # auto: the decode train calibrated for
    kinds = {k["kind"]: k for k in summary["kinds"]}
    assert list(kinds) == ["in_scene", "noise", "black", "white", strip_dataset.name]
    assert kinds["noise"]["frames"] == 4 and kinds["noise"]["withheld_out_of_scene"] == 1.0
    assert kinds["white"]["withheld"] == 1.0 and kinds["black"]["auroc"] > 0.5
    # the scene's own test split as "other": no better than chance against itself
    assert kinds[strip_dataset.name]["auroc"] == pytest.approx(0.5)
    assert "AUROC" in capsys.readouterr().out


def test_gate_eval_with_odometry_replays_the_walk_with_foreign_frames_inserted(
        tiny_checkpoint: Path, strip_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "gate_odom"
    assert cli_main(["gate-eval", "--weights", str(tiny_checkpoint), "--data", str(strip_dataset),
                     "--noise-frames", "4", "--odometry", "--odom-min-agreeing", "1", "--out", str(out),
                     "--decode", "cluster", "--views", "2"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["decode"], summary["views"]) == ("cluster", 2)
    kinds = {k["kind"]: k for k in summary["kinds"]}
    walk = len(load_dataset(strip_dataset, "test").frames)
    assert kinds["in_scene"]["frames"] == walk
    assert kinds["noise"]["frames"] == 4                                 # each shown once, every 5th frame
    assert kinds["black"]["frames"] == kinds["white"]["frames"] == 1
    assert kinds["noise"]["withheld"] == 1.0 and kinds["white"]["withheld"] == 1.0
    assert summary["odometry"]["min_agreeing"] == 1
    # the first frame has nobody to agree with: the in-scene walk cannot be published whole
    assert kinds["in_scene"]["withheld"] >= 1 / walk
