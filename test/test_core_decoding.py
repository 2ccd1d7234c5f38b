"""Decoding (argmax, fusion) and the covariance."""
import numpy as np
import pytest
import torch

from anchor_reloc_ros.core.anchors import RouteFrame
from anchor_reloc_ros.core.decoding import Decoder, UncertaintyCalibration
from anchor_reloc_ros.core.errors import ConfigError


def _frame(scale: float = 2.0) -> RouteFrame:
    # route axes: world y, world -x, world z
    R = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    return RouteFrame(np.array([10.0, 20.0, 1.0]), R, scale, "z")


ANCHORS = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])


def _outputs() -> dict[str, torch.Tensor]:
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]]))
    offsets = torch.tensor([[[0.9, 0.1], [0.2, 0.0], [-0.9, 0.2]]])
    absolute = torch.tensor([[0.25, 2.0, 0.0, 0.0, 0.0]])
    return {"logits_BN": logits, "offsets_BND": offsets, "absolute_BA": absolute}


def test_argmax_is_anchor_plus_its_offset() -> None:
    frame = _frame()
    dec = Decoder(frame, ANCHORS, 2, UncertaintyCalibration(), "argmax", 3)
    d = dec.decode(_outputs())
    assert d.anchor_index[0] == 1
    assert d.anchor_confidence[0] == pytest.approx(0.5)
    expected_route = np.array([1.0 + 0.2, 0.0, 0.25])
    np.testing.assert_allclose(d.positions[0], frame.to_world(expected_route))
    np.testing.assert_allclose(d.quats_wxyz[0], [1, 0, 0, 0])
    np.testing.assert_array_equal(d.topk_indices[0], [1, 2, 0])
    # offset reported in world metres: route (0.2, 0) * scale 2 -> world along +y
    np.testing.assert_allclose(d.offsets[0], [0.0, 0.4, 0.0], atol=1e-12)


def test_fusion_is_confidence_weighted_mean_of_topk() -> None:
    frame = _frame()
    dec = Decoder(frame, ANCHORS, 2, UncertaintyCalibration(), "fusion", 2)
    d = dec.decode(_outputs())
    h1 = np.array([1.2, 0.0])   # anchor 1 + offset
    h2 = np.array([1.1, 0.2])   # anchor 2 + offset
    w1, w2 = 0.5 / 0.8, 0.3 / 0.8
    mean = w1 * h1 + w2 * h2
    np.testing.assert_allclose(d.positions[0], frame.to_world(np.array([*mean, 0.25])), atol=1e-6)
    # the hypothesis spread enters the covariance (world metres^2)
    spread = w1 * np.outer(h1 - mean, h1 - mean) + w2 * np.outer(h2 - mean, h2 - mean)
    base = Decoder(frame, ANCHORS, 2, UncertaintyCalibration(), "argmax", 2).decode(_outputs())
    extra = d.covariances[0, :3, :3] - base.covariances[0, :3, :3]
    assert np.trace(extra) == pytest.approx(np.trace(spread) * 4.0, rel=1e-5)


def test_covariance_positive_definite_and_never_zero() -> None:
    calib = UncertaintyCalibration(np.diag([0.04, 0.09, 0.01]), 0.002, 1.0)
    for mode in ("argmax", "fusion"):
        d = Decoder(_frame(), ANCHORS, 2, calib, mode, 3).decode(_outputs())
        cov = d.covariances[0]
        assert cov.shape == (6, 6)
        np.testing.assert_allclose(cov, cov.T, atol=1e-12)
        assert np.linalg.eigvalsh(cov).min() > 0
    # even a collapsed softmax (one anchor ~1.0) keeps the calibrated floor
    out = _outputs()
    out["logits_BN"] = torch.tensor([[-50.0, 50.0, -50.0]])
    d = Decoder(_frame(), ANCHORS, 2, calib, "fusion", 3).decode(out)
    assert np.linalg.eigvalsh(d.covariances[0]).min() >= 0.002 - 1e-9


def test_temperature_spreads_fusion_weights() -> None:
    out = _outputs()
    out["logits_BN"] = torch.tensor([[0.0, 8.0, 6.0]])
    cold = Decoder(_frame(), ANCHORS, 2, UncertaintyCalibration(temperature=1.0), "fusion", 3).decode(out)
    warm = Decoder(_frame(), ANCHORS, 2, UncertaintyCalibration(temperature=8.0), "fusion", 3).decode(out)
    assert warm.topk_confidences[0, 0] < cold.topk_confidences[0, 0]
    assert not np.allclose(warm.positions, cold.positions)


def test_posenet_decoding_and_bad_options() -> None:
    frame = _frame()
    dec = Decoder(frame, np.zeros((0, 3)), 2, UncertaintyCalibration(), "argmax", 3)
    d = dec.decode({"position_B3": torch.tensor([[1.0, 2.0, 3.0]]), "quat_B4": torch.tensor([[-2.0, 0.0, 0.0, 0.0]])})
    np.testing.assert_allclose(d.positions[0], frame.to_world(np.array([1.0, 2.0, 3.0])))
    np.testing.assert_allclose(d.quats_wxyz[0], [1, 0, 0, 0])
    assert d.anchor_index[0] == -1
    with pytest.raises(ConfigError):
        dec.mode = "mean"
    with pytest.raises(ConfigError):
        dec.top_k = 0
