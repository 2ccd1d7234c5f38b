"""Checkpoints: bit-identical round trip, everything rebuilt from the file, clear errors."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from anchor_reloc_ros.core.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from anchor_reloc_ros.core.errors import CheckpointError
from anchor_reloc_ros.core.localizer import Localizer
from checkpoint_helpers import rewrite_metadata, set_field


def _images(n: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 60, 80, 3), dtype=np.uint8)


def test_metadata_holds_everything_needed(tiny_checkpoint: Path) -> None:
    meta = read_metadata(tiny_checkpoint)
    for key in ("model", "preprocessing", "route_frame", "anchors", "calibration", "training",
                "dataset", "metrics", "format_version"):
        assert key in meta, key
    assert meta["model"]["backbone"] == "tiny_cnn"
    assert meta["model"]["num_anchors"] == len(meta["anchors"]["positions_route"]) == 8
    assert meta["anchors"]["every_k"] == 6
    assert meta["preprocessing"]["image_size"] == [48, 64]
    assert len(meta["dataset"]["fingerprint"]) == 64
    assert "val_argmax" in meta["metrics"]


def test_round_trip_gives_bit_identical_outputs(tiny_checkpoint: Path, tmp_path: Path) -> None:
    contents = load_checkpoint(tiny_checkpoint)
    copy = save_checkpoint(tmp_path / "copy.safetensors", contents.model, contents.metadata)
    a = Localizer.from_checkpoint(tiny_checkpoint, device="cpu")
    b = Localizer.from_checkpoint(copy, device="cpu")
    images = _images()
    with torch.inference_mode():
        x = torch.from_numpy(images[:, :48, :64].copy())
        out_a, out_b = a.run_network(x), b.run_network(x)
    for k in out_a:
        assert torch.equal(out_a[k], out_b[k]), k
    for ea, eb in zip(a.localize_batch(images), b.localize_batch(images)):
        np.testing.assert_array_equal(ea.position, eb.position)
        np.testing.assert_array_equal(ea.quat_wxyz, eb.quat_wxyz)
        np.testing.assert_array_equal(ea.covariance, eb.covariance)


def test_half_precision_file_is_smaller_and_close(tiny_checkpoint: Path, tmp_path: Path) -> None:
    contents = load_checkpoint(tiny_checkpoint)
    half = save_checkpoint(tmp_path / "half.safetensors", contents.model, contents.metadata, half=True)
    assert half.stat().st_size < 0.6 * tiny_checkpoint.stat().st_size
    e_full = Localizer.from_checkpoint(tiny_checkpoint, device="cpu").localize(_images(1)[0])
    e_half = Localizer.from_checkpoint(half, device="cpu").localize(_images(1)[0])
    assert np.linalg.norm(e_full.position - e_half.position) < 0.05


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found.*nope.safetensors"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_truncated_file(tiny_checkpoint: Path, tmp_path: Path) -> None:
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(tiny_checkpoint.read_bytes()[: tiny_checkpoint.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.safetensors"):
        load_checkpoint(bad)


def test_garbage_and_pickle_files_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 7)
    with pytest.raises(CheckpointError, match="garbage.safetensors"):
        load_checkpoint(garbage)
    pickled = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, pickled)
    with pytest.raises(CheckpointError, match="model.pt"):
        load_checkpoint(pickled)


def test_other_safetensors_and_wrong_version(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="foreign.safetensors"):
        load_checkpoint(foreign)
    contents = load_checkpoint(tiny_checkpoint)
    meta = dict(contents.metadata)
    path = save_checkpoint(tmp_path / "future.safetensors", contents.model, meta)
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    inner = json.loads(header["__metadata__"]["anchor_reloc"])
    inner["format_version"] = 99
    header["__metadata__"]["anchor_reloc"] = json.dumps(inner)
    new_header = json.dumps(header).encode()
    new_header += b" " * ((8 - len(new_header) % 8) % 8)
    path.write_bytes(len(new_header).to_bytes(8, "little") + new_header + bytes(raw[8 + n:]))
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(path)


def test_incompatible_weights(tiny_checkpoint: Path, tmp_path: Path) -> None:
    contents = load_checkpoint(tiny_checkpoint)
    meta = dict(contents.metadata)
    path = save_checkpoint(tmp_path / "mismatch.safetensors", contents.model, meta)
    # claim a different anchor count than the stored head has
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    inner = json.loads(header["__metadata__"]["anchor_reloc"])
    inner["model"]["num_anchors"] = 5
    header["__metadata__"]["anchor_reloc"] = json.dumps(inner)
    new_header = json.dumps(header).encode()
    new_header += b" " * ((8 - len(new_header) % 8) % 8)
    path.write_bytes(len(new_header).to_bytes(8, "little") + new_header + raw[8 + n:])
    with pytest.raises(CheckpointError, match="incompatible.*mismatch.safetensors"):
        load_checkpoint(path)


BAD_METADATA = [
    ("preprocessing.image_size", [0, -5]),
    ("preprocessing.image_size", [100000, 100000]),
    ("preprocessing.image_size", [48.5, 64]),
    ("preprocessing.image_size", "48x64"),
    ("preprocessing.mean", [0.5, 0.5]),
    ("preprocessing.std", [0.2, 0.0, 0.2]),
    ("route_frame.R_route_world", (2 * np.eye(3)).tolist()),
    ("route_frame.R_route_world", np.diag([1.0, 1.0, -1.0]).tolist()),  # a reflection
    ("route_frame.origin", [0.0, float("nan"), 0.0]),
    ("route_frame.scale", 0.0),
    ("anchors.positions_route", lambda anchors: anchors[:-1]),
    ("anchors.positions_route", lambda anchors: [a[:2] for a in anchors]),
    ("anchors.dims", 3),
    ("calibration.position_cov", np.diag([1.0, -1.0, 1.0]).tolist()),
    ("calibration.position_cov", [[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
    ("calibration.temperature", 0.0),
    ("calibration.rotation_var", -1.0),
    ("model.backbone", "vgg99"),
    ("model.head", "magic"),
    ("model.num_anchors", "8"),
    ("model.head_hidden", 10**9),
]


@pytest.mark.parametrize("field, value", BAD_METADATA, ids=[f"{f}={v!r:.20}" for f, v in BAD_METADATA])
def test_bad_metadata_is_refused_at_load_naming_file_and_field(tiny_checkpoint: Path, tmp_path: Path,
                                                               field: str, value) -> None:
    bad = rewrite_metadata(tiny_checkpoint, tmp_path / "bad.safetensors", set_field(field, value))
    for reader in (read_metadata, load_checkpoint):
        with pytest.raises(CheckpointError, match=rf"invalid metadata in checkpoint .*bad.safetensors: {field} "):
            reader(bad)


def test_bad_onnx_metadata_is_refused_the_same_way(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from anchor_reloc_ros.core.backend_factory import make_localizer, read_weights_metadata
    from anchor_reloc_ros.core.onnx_export import export_model_onnx

    contents = load_checkpoint(tiny_checkpoint)
    meta = json.loads(json.dumps(contents.metadata))
    meta["calibration"]["temperature"] = -1.0
    onnx_path = export_model_onnx(contents.model, meta, tmp_path / "bad.onnx")
    for reader in (read_weights_metadata, make_localizer):
        with pytest.raises(CheckpointError, match=r"bad.onnx: calibration.temperature must be > 0"):
            reader(onnx_path)


def test_eval_with_bad_metadata_exits_with_one_line(tiny_checkpoint: Path, strip_dataset: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    from anchor_reloc_ros.tools.cli import main

    bad = rewrite_metadata(tiny_checkpoint, tmp_path / "bad.safetensors",
                           set_field("preprocessing.image_size", [0, -5]))
    code = main(["eval", "--weights", str(bad), "--data", str(strip_dataset), "--out", str(tmp_path / "out"),
                 "--no-plots"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert str(bad) in err and "preprocessing.image_size" in err and "[0, -5]" in err, err


def test_lite0_checkpoints_do_not_store_the_unused_classifier_and_old_ones_still_load(
        tiny_checkpoint: Path, tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from anchor_reloc_ros.core.model import ModelConfig, RelocNet

    contents = load_checkpoint(tiny_checkpoint)
    meta = {**contents.metadata, "model": {**contents.metadata["model"], "backbone": "efficientnet_lite0"}}
    model = RelocNet(ModelConfig(**meta["model"]), pretrained=False).eval()
    path = save_checkpoint(tmp_path / "lite0.safetensors", model, meta)
    with safe_open(str(path), "pt") as fh:
        assert not [k for k in fh.keys() if "_fc" in k]
        header = fh.metadata()
    # a file written while the classifier was stored: its keys are dropped at load
    tensors = load_file(str(path))
    tensors["backbone.net._fc.weight"], tensors["backbone.net._fc.bias"] = torch.zeros(1000, 1280), torch.zeros(1000)
    old = tmp_path / "old_lite0.safetensors"
    save_file(tensors, str(old), metadata=header)
    x = torch.full((1, 3, 64, 64), 128.0)
    with torch.no_grad():
        torch.testing.assert_close(load_checkpoint(old).model(x)["logits_BN"], model(x)["logits_BN"])
