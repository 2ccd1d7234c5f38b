"""Checkpoints: bit-identical round trip, everything rebuilt from the file, clear errors."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from anchor_reloc_ros.core.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from anchor_reloc_ros.core.errors import CheckpointError
from anchor_reloc_ros.core.localizer import Localizer


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
