"""`train` picks best.safetensors' decode on the dataset's own val split and calibrates for it."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from anchor_reloc_ros.core.checkpoint import read_metadata
from anchor_reloc_ros.core.localizer import Localizer
from anchor_reloc_ros.core.test_time_views import first_views
from anchor_reloc_ros.training import decode_choice
from anchor_reloc_ros.training.config import TrainConfig
from anchor_reloc_ros.training.decode_choice import CANDIDATES, MIN_FRAMES, MIN_GAIN, choose_decode, score_decodes
from anchor_reloc_ros.training.recalibrate import head_outputs, recalibrate
from anchor_reloc_ros.training.trainer import train
from synthetic_fixture import make_strip_dataset


@pytest.fixture(scope="module")
def walk_with_val(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_strip_dataset(tmp_path_factory.mktemp("strip_val"), n_train=48, n_test=6, n_val=MIN_FRAMES, seed=3)


def _train(data: Path, out: Path, **overrides: object) -> Path:
    config = TrainConfig(data=data, out=out, backbone="tiny_cnn", pretrained=False, image_size=(48, 64),
                         epochs=15, batch_size=16, anchor_every=6, lr=3e-3, head_hidden=64, device="cpu", seed=0,
                         **overrides)
    return train(config, progress=False)


@pytest.fixture(scope="module")
def unchosen(walk_with_val: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained on the walk with its val split, the decode left as training calibrated it."""
    return _train(walk_with_val, tmp_path_factory.mktemp("unchosen"), choose_decode=False)


def _decode(path: Path) -> tuple[str, int]:
    calibration = read_metadata(path)["calibration"]
    return calibration["decode"], calibration["views"]


def test_train_stores_the_decode_the_val_split_chooses(walk_with_val: Path, unchosen: Path, tmp_path: Path) -> None:
    assert _decode(unchosen) == ("argmax", 1)                       # --no-choose-decode: as training calibrated
    best = _train(walk_with_val, tmp_path / "run")
    medians, _ = score_decodes(best, walk_with_val)
    assert set(medians) == {o.label for o in CANDIDATES}
    winner = min(CANDIDATES, key=lambda o: medians[o.label])
    expected = winner if medians[winner.label] <= (1 - MIN_GAIN) * medians["argmax, 1 view"] else CANDIDATES[0]
    assert _decode(best) == (expected.mode, expected.views)
    loc = Localizer.from_checkpoint(best, device="cpu")
    assert (loc.decode, loc.views) == (expected.mode, expected.views)   # what every tool then runs


def test_another_decode_must_win_by_a_margin(walk_with_val: Path, unchosen: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    weights = shutil.copy(unchosen, tmp_path / "best.safetensors")
    scores = {"argmax, 1 view": 4.0, "cluster, 1 view": 3.9, "argmax, 4 views": 3.85, "cluster, 4 views": 3.9}
    outputs = score_decodes(Path(weights), walk_with_val)[1]
    monkeypatch.setattr(decode_choice, "score_decodes", lambda *a, **k: (scores, outputs))
    kept = choose_decode(Path(weights), walk_with_val)
    assert kept.recalibration is None and _decode(weights) == ("argmax", 1)   # 3.75 % better: not enough
    scores["cluster, 4 views"] = 3.0
    chosen = choose_decode(Path(weights), walk_with_val)
    assert (chosen.chosen.mode, chosen.chosen.views) == ("cluster", 4) and _decode(weights) == ("cluster", 4)
    assert read_metadata(weights)["recalibrated"]["val_frames"] == MIN_FRAMES
    # the scoring pass's outputs give the calibration recalibrate's own pass gives
    own = recalibrate(unchosen, walk_with_val, tmp_path / "own.safetensors", "cpu", val_split=True,
                      decoding=chosen.chosen)
    assert read_metadata(weights)["calibration"] == own.calibration.to_dict()
    assert "cluster, 4 views" in decode_choice.format_choice(chosen)


def test_no_choice_without_a_val_split_of_the_datasets_own(strip_dataset: Path, tiny_checkpoint: Path) -> None:
    # the session's tiny checkpoint validated on every 6th training frame: too close to choose with
    assert read_metadata(tiny_checkpoint)["dataset"]["val_source"] == "train"
    assert _decode(tiny_checkpoint) == ("argmax", 1)


def test_the_first_views_of_a_4_view_pass_are_those_views_run_alone(walk_with_val: Path, unchosen: Path) -> None:
    loc = Localizer.from_checkpoint(unchosen, device="cpu")
    paths = [str(p) for p in sorted((walk_with_val / "val").glob("*.png"))[:5]]
    four = head_outputs(loc, paths, 4)
    for views in (1, 2):
        alone = head_outputs(loc, paths, views)
        for key, rows in alone.items():
            np.testing.assert_allclose(first_views(four[key], 4, views), rows, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="cannot take 4 of 2 views"):
        first_views(four["logits_BN"], 2, 4)
