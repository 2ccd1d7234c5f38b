"""--ema-decay: best/last hold the averaged weights, the state the trained ones, and resume keeps both."""
import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from anchor_reloc_ros.core.checkpoint import load_checkpoint
from anchor_reloc_ros.core.errors import ConfigError
from anchor_reloc_ros.training.trainer import STATE_FILE, Trainer
from anchor_reloc_ros.training.weight_average import WeightAverage
from synthetic_fixture import make_strip_dataset
from test_training import _config, assert_same_run, run_killed_during_epoch_3


def test_average_is_the_warmed_up_exponential_mean() -> None:
    model = nn.Linear(1, 1, bias=False)
    ema = WeightAverage(model, decay=0.5)
    values = [1.0, 3.0, 5.0, 7.0]
    expected = None
    for n, v in enumerate(values):
        with torch.no_grad():
            model.weight.fill_(v)
        ema.update(model)
        d = min(0.5, (1 + n) / (10 + n))   # n steps averaged so far (the first update copies)
        expected = v if expected is None else d * expected + (1 - d) * v
    assert ema.model.weight.item() == pytest.approx(expected)
    # the warm-up: decay 2/11, 3/12, 4/13 at the second to fourth updates, under the 0.5 cap
    assert expected == pytest.approx(((1.0 * 2 / 11 + 3.0 * 9 / 11) * 3 / 12 + 5.0 * 9 / 12) * 4 / 13 + 7.0 * 9 / 13)
    with ema.swapped_into(model):
        assert model.weight.item() == pytest.approx(expected)
    assert model.weight.item() == 7.0   # the trained weights are back


def test_checkpoints_hold_the_average_and_the_state_the_trained_weights(tmp_path: Path) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=24, n_test=2)
    trainer = Trainer(_config(data, tmp_path / "run", val_every=4, ema_decay=0.9), progress=False)
    trainer.run()
    last = load_checkpoint(tmp_path / "run" / "last.safetensors").model.state_dict()
    state = torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)
    averaged = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
    name = next(k for k, v in averaged.items() if v.is_floating_point() and v.numel() > 1 and "head" in k)
    torch.testing.assert_close(last[name], averaged[name])
    assert not torch.equal(last[name], state["model"][name])   # the trained weights differ from the average
    with open(tmp_path / "run" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    # both are validated: the average (val_*) and, for the log, the trained weights
    assert all(float(r["val_raw_median_translation_m"]) > 0 and float(r["val_median_translation_m"]) > 0
               for r in rows)


def test_killed_run_with_an_average_resumes_to_identical_weights(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_strip_dataset(tmp_path / "data", n_train=24, n_test=2)
    cfg = dict(val_every=6, ema_decay=0.9)
    Trainer(_config(data, tmp_path / "full", **cfg), progress=False).run()
    run_killed_during_epoch_3(_config(data, tmp_path / "killed", **cfg), monkeypatch)
    Trainer(_config(data, tmp_path / "killed", resume=True, **cfg), progress=False).run()
    assert_same_run(tmp_path / "full", tmp_path / "killed", epochs=4)


def test_out_of_range_decay_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--ema-decay must be in \[0, 1\), got 1.0"):
        _config(tmp_path, tmp_path / "run", ema_decay=1.0).validate()
