"""The committee: small heads whose distance from the estimate widens its covariance."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from anchor_reloc_ros.core.anchor_debug_fields import anchor_debug_fields
from anchor_reloc_ros.core.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from anchor_reloc_ros.core.decoding import COMMITTEE_QUANTILE, DecodeOptions, Decoder
from anchor_reloc_ros.core.errors import CheckpointError, ConfigError
from anchor_reloc_ros.core.gate import GateDecision
from anchor_reloc_ros.core.localizer import Localizer
from anchor_reloc_ros.core.model import COMMITTEE_LOGITS_KEY, COMMITTEE_OFFSETS_KEY
from anchor_reloc_ros.core.backend_factory import make_localizer
from anchor_reloc_ros.core.onnx_backend import OnnxBackend
from anchor_reloc_ros.core.onnx_export import export_onnx
from anchor_reloc_ros.core.uncertainty import spearman
from anchor_reloc_ros.tools.cli import main as cli_main
from anchor_reloc_ros.training.calibration import calibrate


def _decoder(tiny_checkpoint: Path) -> Decoder:
    return Localizer.from_checkpoint(tiny_checkpoint, device="cpu").decoder


def test_a_committee_is_stored_loaded_and_exported_with_the_network(tiny_checkpoint: Path, tmp_path: Path) -> None:
    contents = load_checkpoint(tiny_checkpoint)
    model = contents.model.with_committee(3, 16)
    n, d = model.config.num_anchors, model.config.anchor_dims
    x = torch.full((2, 3, 48, 64), 100.0)
    with torch.no_grad():
        out = model(x)
    assert out[COMMITTEE_LOGITS_KEY].shape == (2, 3, n) and out[COMMITTEE_OFFSETS_KEY].shape == (2, 3, n, d)
    # the pose heads are untouched by adding it
    with torch.no_grad():
        before = load_checkpoint(tiny_checkpoint).model(x)
    assert torch.equal(before["logits_BN"], out["logits_BN"])
    path = save_checkpoint(tmp_path / "c.safetensors", model, contents.metadata)
    assert read_metadata(path)["model"]["committee_heads"] == 3
    with torch.no_grad():
        again = load_checkpoint(path).model(x)
    assert torch.allclose(again[COMMITTEE_OFFSETS_KEY], out[COMMITTEE_OFFSETS_KEY])
    onnx_out = OnnxBackend(export_onnx(path, tmp_path / "c.onnx"), threads=1)(torch.full((2, 48, 64, 3), 100.0))
    for key in (COMMITTEE_LOGITS_KEY, COMMITTEE_OFFSETS_KEY):
        torch.testing.assert_close(onnx_out[key], out[key], atol=1e-4, rtol=1e-4)
    # and an ONNX localizer decodes with it as the torch one does
    calibrated = replace(contents.calibration, committee_gain=2.0)
    torch_loc, onnx_loc = (make_localizer(p, backend="auto", device="cpu", threads=1)
                           for p in (path, tmp_path / "c.onnx"))
    for loc in (torch_loc, onnx_loc):
        loc.decoder.calibration = calibrated
    frame = np.full((48, 64, 3), 100, np.uint8)
    assert np.allclose(torch_loc.localize(frame).covariance, onnx_loc.localize(frame).covariance, rtol=1e-3)


def test_a_bad_committee_size_in_the_metadata_is_named(tiny_checkpoint: Path, tmp_path: Path) -> None:
    contents = load_checkpoint(tiny_checkpoint)
    path = save_checkpoint(tmp_path / "c.safetensors", contents.model.with_committee(2, 8), contents.metadata)
    meta = read_metadata(path)
    with pytest.raises(ConfigError, match="committee"):
        replace(contents.model.config, committee_heads=65)
    assert meta["model"]["committee_hidden"] == 8
    blob = path.read_bytes()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(blob.replace(b'\\"committee_hidden\\": 8', b'\\"committee_hidden\\": 0'))   # same length
    assert bad.read_bytes() != blob
    with pytest.raises(CheckpointError, match=r"model\.committee_hidden"):
        read_metadata(bad)


def _outputs_with_committee(decoder: Decoder, shift_BK: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Peaked logits on a random anchor per frame; committee member k's offsets shifted by
    ``shift_BK`` route units along the first anchored axis, its logits the network's."""
    rng = np.random.default_rng(seed)
    n, d = len(decoder.anchors_route), decoder.anchor_dims
    B, K = shift_BK.shape
    logits = rng.normal(0, 0.5, (B, n))
    logits[np.arange(B), rng.integers(0, n, B)] += 8.0
    offsets = rng.normal(0, 0.05, (B, n, d))
    committee_offsets = np.repeat(offsets[:, None], K, axis=1)
    committee_offsets[..., 0] += shift_BK[:, :, None]
    return {"logits_BN": logits, "offsets_BND": offsets, "absolute_BA": np.tile([0.0, 1, 0, 0, 0], (B, 1)),
            COMMITTEE_LOGITS_KEY: np.repeat(logits[:, None], K, axis=1), COMMITTEE_OFFSETS_KEY: committee_offsets}


def test_the_committee_widens_the_anchored_axes_by_its_gain_times_its_distance_quantile(tiny_checkpoint: Path) -> None:
    decoder = _decoder(tiny_checkpoint)
    argmax = DecodeOptions("argmax", views=1)
    shifts = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 4.0, 9.0], [3.0, 3.0, 3.0, 3.0]])   # route units
    outputs = _outputs_with_committee(decoder, shifts)
    base = replace(decoder.calibration, committee_gain=0.0)
    plain = decoder.decode(outputs, argmax, base)
    widened = decoder.decode(outputs, argmax, replace(base, committee_gain=0.5))
    assert np.allclose(widened.positions, plain.positions)   # the pose is the network's alone
    s = decoder.frame.scale
    d = np.quantile(shifts, COMMITTEE_QUANTILE, axis=1)      # 0, 1.75, 3 at the lower quartile
    added = np.trace(widened.covariances[:, :3, :3] - plain.covariances[:, :3, :3], axis1=1, axis2=2)
    assert np.allclose(added, 0.5 * decoder.anchor_dims * (d * s) ** 2)
    assert np.allclose(widened.committee_distance, d * s)
    assert plain.committee_distance is None
    # each estimate, and so its AnchorDebug, carries its distance (NaN without the committee)
    anchors = np.zeros((len(decoder.anchors_route), 3))
    ests = widened.estimates(anchors, 1.0)
    assert np.allclose([e.committee_distance for e in ests], d * s)
    assert [anchor_debug_fields(e, anchors, 0.0, "argmax", GateDecision(True))["committee_distance"]
            for e in ests] == pytest.approx(d * s)
    assert all(np.isnan(e.committee_distance) for e in plain.estimates(anchors, 1.0))
    # without committee outputs (older checkpoints) a gain changes nothing
    bare = {k: v for k, v in outputs.items() if not k.startswith("committee_")}
    assert np.allclose(decoder.decode(bare, argmax, replace(base, committee_gain=0.5)).covariances, plain.covariances)


def test_each_member_looks_at_each_test_time_view_alone(tiny_checkpoint: Path) -> None:
    """Two views of one frame: the distance is the quantile over all member x view looks, not
    over members decoded on their pooled views (which would average the views' shifts)."""
    decoder = _decoder(tiny_checkpoint)
    two = DecodeOptions("argmax", views=2)
    shifts = np.array([[0.0, 0.0, 8.0, 8.0], [2.0, 2.0, 2.0, 2.0]])   # view 0's members, view 1's
    outputs = _outputs_with_committee(decoder, shifts)
    for key in ("logits_BN", "offsets_BND", "absolute_BA", COMMITTEE_LOGITS_KEY):   # one frame, two like views
        outputs[key] = np.repeat(outputs[key][:1], 2, axis=0)
    outputs[COMMITTEE_OFFSETS_KEY] = np.repeat(outputs["offsets_BND"][:, None], 4, axis=1)
    outputs[COMMITTEE_OFFSETS_KEY][..., 0] += shifts[:, :, None]
    decoded = decoder.decode(outputs, two, replace(decoder.calibration, committee_gain=1.0))
    looks = np.sort(shifts.ravel())                                    # 0 0 2 2 2 2 8 8
    assert len(decoded) == 1
    assert np.allclose(decoded.committee_distance, np.quantile(looks, COMMITTEE_QUANTILE) * decoder.frame.scale)


def test_calibration_takes_the_committee_only_where_it_ranks_the_validation_errors(tiny_checkpoint: Path) -> None:
    decoder = _decoder(tiny_checkpoint)
    argmax = DecodeOptions("argmax", views=1)
    rng = np.random.default_rng(3)
    B = 80
    error = rng.exponential(2.0, B)                               # route units, along the first axis
    outputs = _outputs_with_committee(decoder, error[:, None] * rng.uniform(0.7, 1.3, (B, 5)))
    est = decoder.decode(outputs, argmax, decoder.calibration)
    truth_route = decoder.frame.to_route(est.positions)
    truth_route[:, 0] += error * np.where(rng.random(B) < 0.5, -1.0, 1.0)
    gt = decoder.frame.to_world(truth_route)
    quats = np.tile([1.0, 0, 0, 0], (B, 1))
    fitted = calibrate(decoder, outputs, gt, quats, options=argmax)
    assert fitted.committee_gain > 0
    decoded = decoder.decode(outputs, argmax, fitted)
    sigma = np.sqrt(np.trace(decoded.covariances[:, :3, :3], axis1=1, axis2=2))
    assert spearman(sigma, np.linalg.norm(decoded.positions - gt, axis=1)) > 0.8
    # a committee that disagrees most where the errors are smallest, or never, gets no gain
    misleading = _outputs_with_committee(decoder, 4.0 / (error[:, None] + 0.5) * rng.uniform(0.7, 1.3, (B, 5)))
    assert calibrate(decoder, misleading, gt, quats, options=argmax).committee_gain == 0.0
    agreeing = _outputs_with_committee(decoder, np.zeros((B, 5)))
    assert calibrate(decoder, agreeing, gt, quats, options=argmax).committee_gain == 0.0
    bare = {k: v for k, v in outputs.items() if not k.startswith("committee_")}
    assert calibrate(decoder, bare, gt, quats, options=argmax).committee_gain == 0.0


def test_add_committee_fits_stores_and_recalibrates(tiny_checkpoint: Path, strip_dataset: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "committee.safetensors"
    before = tiny_checkpoint.read_bytes()
    assert cli_main(["add-committee", "--weights", str(tiny_checkpoint), "--data", str(strip_dataset),
                     "--out", str(out), "--heads", "2", "--hidden", "8", "--steps", "40",
                     "--augmented-views", "1", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "committee: 2 heads of 8 units" in printed and "validation frames" in printed
    assert tiny_checkpoint.read_bytes() == before
    meta = read_metadata(out)
    assert meta["model"]["committee_heads"] == 2 and meta["committee"]["steps"] == 40
    assert "committee_gain" in meta["calibration"]
    contents, original = load_checkpoint(out), load_checkpoint(tiny_checkpoint)
    trained = contents.model.committee_offset_heads[0][-1].weight
    assert not torch.equal(trained, contents.model.committee_offset_heads[1][-1].weight)   # own starts
    for name, value in original.model.state_dict().items():
        assert torch.equal(contents.model.state_dict()[name], value), name    # the network is unchanged
    est = Localizer.from_checkpoint(out, device="cpu").localize(np.full((48, 64, 3), 90, np.uint8))
    assert np.isfinite(est.covariance).all()


def test_add_committee_errors_name_the_problem(tiny_checkpoint: Path, strip_dataset: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c.safetensors"
    missing = tmp_path / "no_such_dataset"
    assert cli_main(["add-committee", "--weights", str(tiny_checkpoint), "--data", str(missing),
                     "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err and not out.exists()
    assert cli_main(["add-committee", "--weights", str(tiny_checkpoint), "--data", str(strip_dataset),
                     "--out", str(out), "--heads", "0"]) == 2
    assert "--heads must be >= 1, got 0" in capsys.readouterr().err


def test_train_with_committee_heads_fits_one_to_the_best_checkpoint(strip_dataset: Path, tmp_path: Path) -> None:
    from anchor_reloc_ros.training.config import TrainConfig
    from anchor_reloc_ros.training.trainer import train

    config = TrainConfig(data=strip_dataset, out=tmp_path / "run", backbone="tiny_cnn", pretrained=False,
                         image_size=(48, 64), epochs=2, batch_size=16, anchor_every=6, head_hidden=16,
                         val_every=6, device="cpu", seed=0, committee_heads=2)
    best = train(config, progress=False)
    meta = read_metadata(best)
    assert meta["model"]["committee_heads"] == 2 and meta["committee"]["train_frames"] > 0
    assert "committee_gain" in meta["calibration"] and "recalibrated" in meta
    assert read_metadata(tmp_path / "run" / "last.safetensors")["model"].get("committee_heads", 0) == 0
    with pytest.raises(ConfigError, match="--committee-heads must be >= 0"):
        replace(config, committee_heads=-1).validate()
