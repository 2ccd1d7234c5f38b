"""Cluster decoding and test-time views: constructed cases with a known answer, and a real
localizer running V views of a frame."""
from pathlib import Path

import numpy as np
import pytest

from anchor_reloc_ros.core.anchors import RouteFrame
from anchor_reloc_ros.core.decoding import (CLUSTER_RADIUS_SPACINGS, DecodeOptions, Decoder, UncertaintyCalibration,
                                            anchor_spacing, cluster_point, softmax)
from anchor_reloc_ros.core.errors import ConfigError
from anchor_reloc_ros.core.localizer import Localizer
from anchor_reloc_ros.core.test_time_views import CROP_FRACTION, view_images, view_windows

FRAME = RouteFrame(np.zeros(3), np.eye(3), 1.0, "z")
ANCHORS = np.c_[np.arange(10) * 2.0, np.zeros(10), np.zeros(10)]   # spacing 2 m along x


def _outputs(conf_N: np.ndarray, hyp_N2: np.ndarray) -> dict[str, np.ndarray]:
    return {"logits_BN": np.log(conf_N)[None], "offsets_BND": (hyp_N2 - ANCHORS[:, :2])[None],
            "absolute_BA": np.array([[0.5, 1.0, 0.0, 0.0, 0.0]])}


def test_anchor_spacing_is_the_median_nearest_neighbour_distance() -> None:
    assert anchor_spacing(ANCHORS[:, :2]) == pytest.approx(2.0)
    assert anchor_spacing(ANCHORS[:1, :2]) == 1.0
    assert Decoder(FRAME, ANCHORS, 2, UncertaintyCalibration()).cluster_radius_route == pytest.approx(CLUSTER_RADIUS_SPACINGS * 2.0)


def test_neighbours_agreeing_outvote_a_lone_confident_anchor() -> None:
    conf = np.full(10, 0.02)
    conf[8] = 0.30                       # a lone confident anchor pointing at x = 17
    conf[1:4] = 0.18                     # three neighbours agreeing on x = 4 (0.54 together)
    conf /= conf.sum()
    hyp = np.c_[np.arange(10) * 2.0 + 50.0, np.zeros(10)]   # the rest point far apart (no cluster)
    hyp[:, 0] += np.arange(10) * 10.0
    hyp[8] = [17.0, 0.0]
    hyp[1:4] = [[3.8, 0.1], [4.0, 0.0], [4.3, -0.1]]
    winner, point = cluster_point(conf[None], hyp[None], radius=4.0)
    assert winner[0] in (1, 2, 3)
    np.testing.assert_allclose(point[0], hyp[1:4].mean(axis=0), atol=1e-12)   # equal weights
    dec = Decoder(FRAME, ANCHORS, 2, UncertaintyCalibration())
    cluster = dec.decode(_outputs(conf, hyp), DecodeOptions("cluster"))
    argmax = dec.decode(_outputs(conf, hyp), DecodeOptions("argmax"))
    np.testing.assert_allclose(cluster.positions[0, :2], point[0])
    np.testing.assert_allclose(argmax.positions[0, :2], [17.0, 0.0])
    assert cluster.anchor_index[0] == winner[0] and argmax.anchor_index[0] == 8
    # the covariance is the mixture about the published point: the lone anchor 13 m away counts
    assert cluster.covariances[0, 0, 0] > conf[8] * 13.0 ** 2 * 0.9


def test_cluster_of_one_confident_anchor_is_argmax() -> None:
    conf = np.full(10, 0.01)
    conf[5] = 0.91
    hyp = np.c_[np.arange(10) * 30.0, np.zeros(10)]   # every hypothesis alone
    dec = Decoder(FRAME, ANCHORS, 2, UncertaintyCalibration())
    a = dec.decode(_outputs(conf, hyp), DecodeOptions("argmax"))
    c = dec.decode(_outputs(conf, hyp), DecodeOptions("cluster"))
    np.testing.assert_allclose(c.positions, a.positions)
    np.testing.assert_allclose(c.covariances, a.covariances)


def test_views_pool_confidences_and_hypotheses_and_keep_view_0s_rotation() -> None:
    rng = np.random.default_rng(0)
    B, V, N = 3, 4, 10
    logits = rng.normal(size=(B * V, N))
    offsets = rng.normal(size=(B * V, N, 2))
    absolute = np.c_[rng.normal(size=(B * V, 1)), np.tile([1.0, 0.0, 0.0, 0.0], (B * V, 1))]
    absolute[1::V, 1:] = [0.0, 1.0, 0.0, 0.0]   # another view's rotation: never published
    outputs = {"logits_BN": logits, "offsets_BND": offsets, "absolute_BA": absolute}
    dec = Decoder(FRAME, ANCHORS, 2, UncertaintyCalibration())
    d = dec.decode(outputs, DecodeOptions("argmax", views=V))
    conf = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pooled = conf.reshape(B, V, N).mean(axis=1)
    np.testing.assert_allclose(d.confidences, pooled)
    k = pooled.argmax(axis=1)
    w = conf.reshape(B, V, N)[np.arange(B), :, k]                                   # (B, V)
    hyp = ANCHORS[k, None, :2] + offsets.reshape(B, V, N, 2)[np.arange(B), :, k]   # (B, V, 2)
    expected = np.einsum("bv,bvd->bd", w, hyp) / w.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(d.positions[:, :2], expected)
    np.testing.assert_allclose(d.positions[:, 2], absolute[::V, 0])
    np.testing.assert_allclose(d.quats_wxyz, np.tile([1.0, 0.0, 0.0, 0.0], (B, 1)))
    # one view is the plain decode of the frame's own rows
    single = dec.decode({k: v[::V] for k, v in outputs.items()}, DecodeOptions("argmax", views=1))
    repeated = dec.decode({k: np.repeat(v[::V], V, axis=0) for k, v in outputs.items()},
                          DecodeOptions("argmax", views=V))
    np.testing.assert_allclose(repeated.positions, single.positions)
    np.testing.assert_allclose(repeated.covariances, single.covariances)
    with pytest.raises(ValueError, match="whole number of frames"):
        dec.decode({k: v[:5] for k, v in outputs.items()}, DecodeOptions("argmax", views=V))
    with pytest.raises(ConfigError, match="views"):
        DecodeOptions(views=3)


def test_view_windows_and_view_images() -> None:
    windows = view_windows(100, 200, 4)
    assert windows[0] == (slice(0, 100), slice(0, 200))
    ch, cw = round(100 * CROP_FRACTION), round(200 * CROP_FRACTION)
    assert [(w[0].stop - w[0].start, w[1].stop - w[1].start) for w in windows[1:]] == [(ch, cw)] * 3
    assert windows[2][1].start == 0 and windows[3][1].stop == 200
    with pytest.raises(ValueError):
        view_windows(100, 200, 3)
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)]
    out = view_images(images, 4)
    assert len(out) == 8 and out[0] is not images[0]
    np.testing.assert_array_equal(out[0], images[0])        # view 0: the frame itself
    np.testing.assert_array_equal(out[4], images[1])
    assert out[5].shape == (round(120 * CROP_FRACTION), round(160 * CROP_FRACTION), 3)   # the image's own size
    np.testing.assert_array_equal(out[7], images[1][9:111, 160 - 136:])                  # the right crop
    assert all(a is b for a, b in zip(view_images(images, 1), images))


def test_localizer_runs_the_views_and_publishes_view_0s_scene_score(tiny_checkpoint: Path) -> None:
    image = np.random.default_rng(2).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    one = Localizer.from_checkpoint(tiny_checkpoint, device="cpu", views=1)
    four = Localizer.from_checkpoint(tiny_checkpoint, device="cpu", views=4, max_batch=8)
    assert four.views == 4
    e1, e4 = one.localize(image), four.localize(image)
    np.testing.assert_allclose(e4.quat_wxyz, e1.quat_wxyz, atol=1e-5)        # rotation: view 0
    assert (e4.ood_score is None) == (e1.ood_score is None)
    if e1.ood_score is not None:
        assert e4.ood_score == pytest.approx(e1.ood_score, abs=1e-5)
    assert not np.allclose(e4.hypothesis_confidences, e1.hypothesis_confidences)   # the crops count
    batch = four.localize_batch([image] * 3)    # 8 // 4 = 2 frames per network call
    assert len(batch) == 3
    for e in batch:
        np.testing.assert_allclose(e.position, e4.position, atol=1e-5)
    four.set_decode_options(DecodeOptions(views=1))
    np.testing.assert_allclose(four.localize(image).position, e1.position, atol=1e-5)


def test_cluster_votes_with_the_networks_own_softmax_whatever_the_fusion_temperature() -> None:
    logits = np.zeros(10)
    logits[8] = 5.0                      # one confident anchor (0.94 of the softmax at T = 1) ...
    hyp = np.c_[np.full(10, 4.0) + np.arange(10) * 0.1, np.zeros(10)]   # ... the other nine agree on x ~ 4
    hyp[8] = [17.0, 0.0]
    outputs = {"logits_BN": logits[None], "offsets_BND": (hyp - ANCHORS[:, :2])[None],
               "absolute_BA": np.array([[0.5, 1.0, 0.0, 0.0, 0.0]])}
    dec = Decoder(FRAME, ANCHORS, 2, UncertaintyCalibration())
    # at the fusion temperature 8 the nine would hold 0.84 and win; the vote ignores it
    assert softmax(logits / 8.0)[np.arange(10) != 8].sum() > 0.8
    for t in (1.0, 8.0):
        d = dec.decode(outputs, DecodeOptions("cluster"), UncertaintyCalibration(temperature=t))
        assert d.anchor_index[0] == 8
        np.testing.assert_allclose(d.positions[0, :2], [17.0, 0.0])
