"""Decoding (argmax, fusion) and the covariance (mixture of all hypotheses + floor)."""
import threading
import time

import numpy as np
import pytest
import torch

from anchor_reloc_ros.core.anchors import RouteFrame
from anchor_reloc_ros.core.decoding import DecodeOptions, Decoder, UncertaintyCalibration
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


def _mixture_moment(outputs: dict[str, torch.Tensor], point_route: np.ndarray, t: float) -> np.ndarray:
    """The route-frame second moment of all hypotheses about ``point_route`` (by hand)."""
    logits = outputs["logits_BN"][0].double().numpy() / t
    w = np.exp(logits - logits.max())
    w /= w.sum()
    hyp = ANCHORS[:, :2] + outputs["offsets_BND"][0].double().numpy()
    dev = hyp - point_route
    return sum(wi * np.outer(d, d) for wi, d in zip(w, dev))


def test_fusion_is_confidence_weighted_mean_of_topk() -> None:
    frame = _frame()
    floor = UncertaintyCalibration().position_cov
    dec = Decoder(frame, ANCHORS, 2, UncertaintyCalibration(), "fusion", 2)
    d = dec.decode(_outputs())
    h1 = np.array([1.2, 0.0])   # anchor 1 + offset
    h2 = np.array([1.1, 0.2])   # anchor 2 + offset
    w1, w2 = 0.5 / 0.8, 0.3 / 0.8
    mean = w1 * h1 + w2 * h2
    np.testing.assert_allclose(d.positions[0], frame.to_world(np.array([*mean, 0.25])), atol=1e-6)
    # the covariance: all N hypotheses about the fused point, in world metres^2, plus the floor
    moment = _mixture_moment(_outputs(), mean, 1.0)
    extra = d.covariances[0, :3, :3] - floor
    assert np.trace(extra) == pytest.approx(np.trace(moment) * 4.0, rel=1e-5)


def test_argmax_covariance_is_the_mixture_about_the_published_point() -> None:
    """argmax publishes one hypothesis, but the covariance still sees all of them."""
    frame = _frame()
    calib = UncertaintyCalibration(np.eye(3) * 0.01, 0.001, 1.0, uncertainty_temperature=2.0)
    d = Decoder(frame, ANCHORS, 2, calib, "argmax", 1).decode(_outputs())
    moment = _mixture_moment(_outputs(), np.array([1.2, 0.0]), 2.0)    # about anchor 1 + offset
    R, s = frame.R_route_world, frame.scale
    expected = np.eye(3) * 0.01 + s * s * R.T @ np.pad(moment, ((0, 1), (0, 1))) @ R
    np.testing.assert_allclose(d.covariances[0, :3, :3], expected, atol=1e-6)


def test_covariance_grows_when_the_softmax_splits_between_distant_anchors() -> None:
    anchors = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [30.0, 0.0, 0.0]])
    out = _outputs()
    out["offsets_BND"] = torch.zeros(1, 3, 2)
    calib = UncertaintyCalibration(np.eye(3) * 0.01, 0.001, 1.0)
    traces = {}
    for name, probs in (("near", [0.4, 0.6, 1e-6]), ("far", [1e-6, 0.6, 0.4])):
        out["logits_BN"] = torch.log(torch.tensor([probs]))
        for mode in ("argmax", "fusion"):
            d = Decoder(_frame(), anchors, 2, calib, mode, 3).decode(out)
            traces[name, mode] = float(np.trace(d.covariances[0, :3, :3]))
    for mode in ("argmax", "fusion"):
        assert traces["far", mode] > 100 * traces["near", mode], mode


def test_the_floor_grows_with_the_softmax_mass_away_from_the_published_point() -> None:
    anchors = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [30.0, 0.0, 0.0]])   # spacing 1: radius 2
    out = _outputs()
    out["offsets_BND"] = torch.zeros(1, 3, 2)
    out["logits_BN"] = torch.log(torch.tensor([[0.5, 0.2, 0.3]]))      # argmax: anchor 0
    floor = np.diag([4.0, 1.0, 0.25])
    plain = UncertaintyCalibration(floor, 0.001, 1.0)
    d0 = Decoder(_frame(), anchors, 2, plain, "argmax", 3).decode(out)
    d3 = Decoder(_frame(), anchors, 2, UncertaintyCalibration(floor, 0.001, 1.0, floor_mass_gain=3.0),
                 "argmax", 3).decode(out)
    np.testing.assert_allclose(d3.point_mass, [0.7], atol=1e-6)          # anchors 0 and 1 are near it
    np.testing.assert_allclose(d3.covariances[0, :3, :3] - d0.covariances[0, :3, :3], 3.0 * 0.3 * floor, atol=1e-6)
    again = UncertaintyCalibration.from_dict(UncertaintyCalibration(floor, 0.001, 1.0, floor_mass_gain=3.0).to_dict())
    assert again.floor_mass_gain == 3.0 and UncertaintyCalibration.from_dict(plain.to_dict()).floor_mass_gain == 0.0
    with pytest.raises(ValueError, match="floor_mass_gain"):
        UncertaintyCalibration(floor, 0.001, 1.0, floor_mass_gain=-1.0)


def test_covariance_positive_definite_and_never_zero() -> None:
    calib = UncertaintyCalibration(np.diag([0.04, 0.09, 0.01]), 0.002, 1.0, 3.0, 5.0)
    rng = np.random.default_rng(0)
    cases = [_outputs()]
    for scale in (1e-3, 1.0, 50.0, 1e4):   # from uniform to one-hot softmax, huge offsets
        cases.append({"logits_BN": torch.tensor(rng.normal(size=(4, 3)) * scale),
                      "offsets_BND": torch.tensor(rng.normal(size=(4, 3, 2)) * scale),
                      "absolute_BA": torch.tensor(rng.normal(size=(4, 5)))})
    for out in cases:
        for mode in ("argmax", "fusion"):
            for cov in Decoder(_frame(), ANCHORS, 2, calib, mode, 3).decode(out).covariances:
                assert cov.shape == (6, 6)
                tol = 1e-9 * max(1.0, float(np.abs(cov).max()))
                np.testing.assert_allclose(cov, cov.T, atol=tol)
                assert np.linalg.eigvalsh(cov).min() > 0
                assert np.linalg.eigvalsh(cov[:3, :3] - calib.position_cov).min() > -tol  # never below the floor
                assert np.diag(cov)[3:].min() >= 0.002
    # even a collapsed softmax (one anchor ~1.0) keeps the calibrated floor
    out = _outputs()
    out["logits_BN"] = torch.tensor([[-50.0, 50.0, -50.0]])
    d = Decoder(_frame(), ANCHORS, 2, calib, "fusion", 3).decode(out)
    assert np.linalg.eigvalsh(d.covariances[0]).min() >= 0.002 - 1e-9
    # PoseNet: the floor itself
    d = Decoder(_frame(), np.zeros((0, 3)), 2, calib, "argmax", 3).decode(
        {"position_B3": torch.zeros(1, 3), "quat_B4": torch.tensor([[1.0, 0.0, 0.0, 0.0]])})
    np.testing.assert_allclose(d.covariances[0, :3, :3], calib.position_cov)
    np.testing.assert_allclose(np.diag(d.covariances[0])[3:], 0.002)


@pytest.mark.parametrize("bad", [{"position_cov": np.zeros((3, 3))}, {"position_cov": -np.eye(3)},
                                 {"position_cov": np.diag([1.0, 1.0, np.nan])}, {"rotation_var": 0.0},
                                 {"uncertainty_temperature": -1.0}, {"rotation_entropy_gain": -0.5}])
def test_calibration_refuses_a_floor_that_is_not_positive_definite(bad: dict) -> None:
    with pytest.raises(ValueError):
        UncertaintyCalibration(**bad)


def test_rotation_variance_grows_with_softmax_entropy() -> None:
    calib = UncertaintyCalibration(np.eye(3), 0.001, 1.0, 1.0, 4.0)
    out = _outputs()
    out["logits_BN"] = torch.tensor([[0.0, 0.0, 0.0], [-60.0, 60.0, -60.0]])
    out["offsets_BND"] = out["offsets_BND"].repeat(2, 1, 1)
    out["absolute_BA"] = out["absolute_BA"].repeat(2, 1)
    cov = Decoder(_frame(), ANCHORS, 2, calib, "argmax", 3).decode(out).covariances
    rot = np.diagonal(cov[:, 3:, 3:], axis1=1, axis2=2)
    np.testing.assert_allclose(rot[0], 0.001 * 5.0)       # uniform: normalised entropy 1
    np.testing.assert_allclose(rot[1], 0.001, rtol=1e-6)  # one-hot: entropy 0


def test_calibration_dict_roundtrip_and_old_checkpoints() -> None:
    calib = UncertaintyCalibration(np.diag([0.5, 0.6, 0.7]), 0.003, 2.0, 1.4, 3.0)
    again = UncertaintyCalibration.from_dict(calib.to_dict())
    np.testing.assert_allclose(again.position_cov, calib.position_cov)
    assert (again.rotation_var, again.temperature, again.uncertainty_temperature,
            again.rotation_entropy_gain) == (0.003, 2.0, 1.4, 3.0)
    # a checkpoint from before the mixture model: only the floor and the fusion temperature
    old = UncertaintyCalibration.from_dict({"position_cov": np.eye(3).tolist(), "rotation_var": 0.01,
                                            "temperature": 4.0})
    assert old.uncertainty_temperature == 4.0 and old.rotation_entropy_gain == 0.0


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
        DecodeOptions("mean", 3)
    with pytest.raises(ConfigError):
        DecodeOptions("argmax", 0)


def test_options_swapped_under_load_are_never_seen_half_changed() -> None:
    """Worker threads decode while another thread flips (argmax, k=1) <-> (fusion, k=3), as
    the node's parameter callback does: every result matches one whole option set."""
    dec = Decoder(_frame(), ANCHORS, 2, UncertaintyCalibration(), "argmax", 1)
    outputs = {k: v.numpy() for k, v in _outputs().items()}
    argmax = dec.decode(outputs, DecodeOptions("argmax", 1)).positions[0]
    fusion = dec.decode(outputs, DecodeOptions("fusion", 3)).positions[0]
    assert not np.allclose(argmax, fusion)
    sets = (DecodeOptions("argmax", 1), DecodeOptions("fusion", 3))
    stop, seen, wrong = threading.Event(), [], []

    def work() -> None:
        while not stop.is_set():
            d = dec.decode(outputs)
            k = d.topk_indices.shape[1]
            expected = argmax if k == 1 else fusion
            (seen if np.allclose(d.positions[0], expected) else wrong).append(k)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(400):
        dec.options = sets[i % 2]
        time.sleep(0.001)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert not wrong, f"{len(wrong)} decodes mixed mode and top_k"
    assert {1, 3} <= set(seen)
