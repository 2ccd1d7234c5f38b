"""ONNX export: torch/ORT agreement, metadata in the file, make_localizer on .onnx, clear errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from anchor_reloc_ros.core.backend_factory import make_localizer
from anchor_reloc_ros.core.checkpoint import load_checkpoint, read_metadata
from anchor_reloc_ros.core.errors import CheckpointError, ConfigError, DeviceError
from anchor_reloc_ros.core.onnx_backend import OnnxBackend, select_providers
from anchor_reloc_ros.core.onnx_export import INPUT_NAME, export_onnx, load_onnx_contents
from anchor_reloc_ros.tools.cli import main as cli_main


def _batch(n: int, seed: int = 3) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 48, 64, 3), dtype=np.uint8))


def test_graph_io_names_and_dynamic_batch(tiny_onnx: Path) -> None:
    proto = onnx.load(str(tiny_onnx))
    onnx.checker.check_model(proto)
    (inp,) = proto.graph.input
    assert inp.name == INPUT_NAME
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 48, 64]
    # the out-of-scene score too: anchor-reloc train attaches it (core/ood.py)
    assert [o.name for o in proto.graph.output] == ["logits_BN", "offsets_BND", "absolute_BA", "ood_score_B"]


@pytest.mark.parametrize("n", [1, 5])
def test_onnx_matches_torch_fp32(tiny_checkpoint: Path, tiny_onnx: Path, n: int) -> None:
    model = load_checkpoint(tiny_checkpoint).model.eval()
    batch = _batch(n)
    with torch.inference_mode():
        ref = model(batch.permute(0, 3, 1, 2).float())
    out = OnnxBackend(tiny_onnx, threads=1)(batch)
    assert set(out) == set(ref)
    for k in ref:
        assert out[k].dtype == torch.float32 and out[k].shape == ref[k].shape, k
        torch.testing.assert_close(out[k], ref[k], atol=1e-4, rtol=1e-4)


def test_metadata_survives(tiny_checkpoint: Path, tiny_onnx: Path) -> None:
    meta, frame, anchors, calibration = load_onnx_contents(tiny_onnx)
    original = read_metadata(tiny_checkpoint)
    assert {k: v for k, v in meta.items() if k != "onnx"} == original
    assert meta["onnx"]["input"] == INPUT_NAME and meta["onnx"]["fp16"] is False
    contents = load_checkpoint(tiny_checkpoint)
    np.testing.assert_array_equal(anchors, contents.anchors_route)
    np.testing.assert_array_equal(frame.R_route_world, contents.frame.R_route_world)
    assert calibration.temperature == contents.calibration.temperature


@pytest.mark.parametrize("decode", ["argmax", "fusion"])
def test_make_localizer_onnx_matches_torch(tiny_checkpoint: Path, tiny_onnx: Path, decode: str) -> None:
    images = np.random.default_rng(7).integers(0, 256, (4, 96, 128, 3), dtype=np.uint8)  # resized inside
    torch_loc = make_localizer(tiny_checkpoint, backend="torch", device="cpu", decode=decode)
    onnx_loc = make_localizer(tiny_onnx, backend="auto", device="cpu", decode=decode, threads=1)
    assert onnx_loc.backend.name == "onnxruntime" and onnx_loc.image_size == torch_loc.image_size
    for a, b in zip(torch_loc.localize_batch(images), onnx_loc.localize_batch(images)):
        assert a.anchor_index == b.anchor_index
        np.testing.assert_allclose(b.position, a.position, atol=1e-4)
        np.testing.assert_allclose(b.quat_wxyz, a.quat_wxyz, atol=1e-4)
        np.testing.assert_allclose(b.covariance, a.covariance, atol=1e-4)
        np.testing.assert_allclose(b.topk_confidences, a.topk_confidences, atol=1e-4)


def test_fixed_batch_export_pads_and_chunks(tiny_checkpoint: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    fixed = export_onnx(tiny_checkpoint, tmp_path / "b2.onnx", batch=2)
    batch = _batch(3)
    a, b = OnnxBackend(tiny_onnx)(batch), OnnxBackend(fixed)(batch)
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-5, rtol=1e-5)
    assert make_localizer(fixed, device="cpu").max_batch == 2


def test_fp16_export_is_close(tiny_checkpoint: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    half = export_onnx(tiny_checkpoint, tmp_path / "half.onnx", fp16=True)
    assert half.stat().st_size < 0.7 * tiny_onnx.stat().st_size
    assert load_onnx_contents(half)[0]["onnx"]["fp16"] is True
    images = np.random.default_rng(2).integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    full = make_localizer(tiny_onnx, device="cpu").localize_batch(images)
    approx = make_localizer(half, device="cpu").localize_batch(images)
    for a, b in zip(full, approx):
        assert np.linalg.norm(a.position - b.position) < 0.05


def test_missing_onnx_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found.*nope.onnx"):
        make_localizer(tmp_path / "nope.onnx")


@pytest.mark.parametrize("cut", [0.5, 0.97])
def test_truncated_onnx_names_the_file(tiny_onnx: Path, tmp_path: Path, cut: float) -> None:
    data = tiny_onnx.read_bytes()
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(CheckpointError, match="cut.onnx"):
        make_localizer(bad, device="cpu")


def test_garbage_onnx_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"\x80\x04not protobuf at all" * 100)
    with pytest.raises(CheckpointError, match="garbage.onnx"):
        load_onnx_contents(bad)


def test_foreign_onnx_names_the_file(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.onnx"
    h = onnx.helper
    graph = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "foreign",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])])
    onnx.save(h.make_model(graph), str(foreign))
    with pytest.raises(CheckpointError, match="not an anchor_reloc ONNX.*foreign.onnx"):
        make_localizer(foreign, device="cpu")


def test_backend_choice_errors(tiny_checkpoint: Path, tiny_onnx: Path) -> None:
    with pytest.raises(ConfigError, match="export it first"):
        make_localizer(tiny_checkpoint, backend="onnxruntime")
    with pytest.raises(ConfigError, match="backend=torch needs"):
        make_localizer(tiny_onnx, backend="torch")
    with pytest.raises(ConfigError, match="backend must be one of"):
        make_localizer(tiny_onnx, backend="openvino")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="TensorRT"):
            make_localizer(tiny_onnx, backend="tensorrt")
        with pytest.raises(DeviceError, match="CUDA"):
            select_providers("onnxruntime", "cuda")


def test_export_cli(tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.onnx"
    assert cli_main(["export", "--weights", str(tiny_checkpoint), "--format", "onnx", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert load_onnx_contents(out)[0]["model"]["backbone"] == "tiny_cnn"
    assert cli_main(["export", "--weights", str(tmp_path / "none.safetensors"), "--out", str(out)]) == 2
    assert "none.safetensors" in capsys.readouterr().err


def test_cuda_graphs_need_cuda(tiny_checkpoint: Path) -> None:
    from anchor_reloc_ros.core.backends import TorchBackend
    from anchor_reloc_ros.core.torch_fast import CudaGraphBackend

    with pytest.raises(DeviceError, match="CUDA graphs"):
        CudaGraphBackend(TorchBackend(load_checkpoint(tiny_checkpoint).model, "cpu"))
    assert make_localizer(tiny_checkpoint, device="cpu", cuda_graphs=True).backend.name == "torch"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_backends_agree_with_cpu(tiny_checkpoint: Path, tiny_onnx: Path) -> None:
    images = np.random.default_rng(5).integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    ref = make_localizer(tiny_checkpoint, device="cpu").localize_batch(images)
    graphs = make_localizer(tiny_checkpoint, device="cuda", fp16=True, cuda_graphs=True)
    assert graphs.backend.name == "torch-cudagraph"
    for _ in range(2):  # the second pass replays the captured graphs
        for a, b in zip(ref, [graphs.localize(im) for im in images]):
            assert np.linalg.norm(a.position - b.position) < 0.05
    from anchor_reloc_ros.core.onnx_backend import CUDA_EP, available_providers

    if CUDA_EP in available_providers():
        ort_cuda = make_localizer(tiny_onnx, backend="onnxruntime", device="cuda").localize_batch(images)
        for a, b in zip(ref, ort_cuda):
            np.testing.assert_allclose(b.position, a.position, atol=1e-3)


def test_ood_score_is_the_same_signal_in_onnx_and_torch(tiny_checkpoint: Path, tiny_onnx: Path) -> None:
    images = np.random.default_rng(11).integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    scores = [make_localizer(w, backend=b, device="cpu").localize_batch(images)
              for w, b in ((tiny_checkpoint, "torch"), (tiny_onnx, "onnxruntime"))]
    for t, o in zip(*scores):
        assert np.isfinite(t.ood_score) and t.ood_score == pytest.approx(o.ood_score, abs=1e-4)
