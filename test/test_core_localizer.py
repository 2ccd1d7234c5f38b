"""The Localizer: inputs, outputs, devices."""
from pathlib import Path

import numpy as np
import pytest
import torch

from anchor_reloc_ros.core.decoding import DecodeOptions
from anchor_reloc_ros.core.errors import DeviceError, InvalidImageError
from anchor_reloc_ros.core.geometry import quat_to_matrix
from anchor_reloc_ros.core.localizer import Localizer


def test_estimate_fields(tiny_checkpoint: Path) -> None:
    loc = Localizer.from_checkpoint(tiny_checkpoint, device="auto", top_k=3)
    image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    e = loc.localize(image)
    assert e.position.shape == (3,) and np.isfinite(e.position).all()
    np.testing.assert_allclose(np.linalg.norm(e.quat_wxyz), 1.0)
    assert quat_to_matrix(e.quat_wxyz).shape == (3, 3)
    assert e.covariance.shape == (6, 6) and np.linalg.eigvalsh(e.covariance).min() > 0
    assert 0 <= e.anchor_index < len(loc.anchors_world)
    np.testing.assert_allclose(e.anchor_position, loc.anchors_world[e.anchor_index])
    assert e.topk_indices.shape == (3,) and np.all(np.diff(e.topk_confidences) <= 0)
    assert e.topk_indices[0] == e.anchor_index           # argmax (the default): the top anchor
    # cluster decoding reports the winning place's anchor, not always the top one: within the
    # cluster radius of the published point
    loc.set_decode_options(DecodeOptions(mode="cluster", top_k=3))
    c = loc.localize(image)
    radius_m = loc.decoder.cluster_radius_route * loc.decoder.frame.scale
    assert np.linalg.norm(c.hypotheses[c.anchor_index] - c.position) <= radius_m + 1e-6
    assert 0.0 < e.anchor_confidence <= 1.0
    assert e.inference_ms > 0


def test_batch_equals_single(tiny_checkpoint: Path) -> None:
    loc = Localizer.from_checkpoint(tiny_checkpoint, device="cpu", max_batch=2)
    images = np.random.default_rng(3).integers(0, 256, (5, 48, 64, 3), dtype=np.uint8)
    batch = loc.localize_batch(images)
    assert len(batch) == 5
    for im, e in zip(images, batch):
        np.testing.assert_allclose(loc.localize(im).position, e.position, atol=1e-5)


def test_decode_switch_changes_mode(tiny_checkpoint: Path) -> None:
    loc = Localizer.from_checkpoint(tiny_checkpoint, device="cpu", decode="fusion", top_k=2)
    assert loc.decode == "fusion" and loc.top_k == 2
    loc.decode = "argmax"
    assert loc.decode == "argmax"


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                                 np.zeros((10, 10, 4), np.uint8), "not an image"])
def test_bad_images_raise(tiny_checkpoint: Path, bad: object) -> None:
    loc = Localizer.from_checkpoint(tiny_checkpoint, device="cpu")
    with pytest.raises(InvalidImageError):
        loc.localize(bad)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_cuda_without_cuda_is_a_clear_error(tiny_checkpoint: Path) -> None:
    with pytest.raises(DeviceError, match="CUDA is not available"):
        Localizer.from_checkpoint(tiny_checkpoint, device="cuda")
    # fp16 on the CPU falls back to fp32 instead of failing
    assert Localizer.from_checkpoint(tiny_checkpoint, device="auto", fp16=True).backend.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fp16_matches_cpu(tiny_checkpoint: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    cpu = Localizer.from_checkpoint(tiny_checkpoint, device="cpu").localize(image)
    gpu = Localizer.from_checkpoint(tiny_checkpoint, device="cuda", fp16=True).localize(image)
    assert np.linalg.norm(cpu.position - gpu.position) < 0.1
