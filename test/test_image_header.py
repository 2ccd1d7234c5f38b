"""Pixel limit from the PNG/JPEG header and raw fields, before decoding; silent decoders."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from anchor_reloc_ros.data import image_codec
from anchor_reloc_ros.data.image_codec import compressed_to_rgb, image_to_rgb
from anchor_reloc_ros.data.image_header import (
    DEFAULT_MAX_IMAGE_PIXELS,
    ImageDecodeError,
    compressed_dimensions,
)
from bad_images import CORRUPT_FRAMES, encoded, jpeg_claiming, png_claiming

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("ext, params, kind", [
    (".png", (), "png"),
    (".jpg", (), "jpeg"),
    (".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1), "jpeg"),  # SOF2
])
def test_header_gives_the_encoded_size(ext: str, params: tuple, kind: str) -> None:
    assert compressed_dimensions(encoded(ext, 37, 53, params=params)) == (kind, 53, 37)


def test_patched_headers_claim_the_bomb_size() -> None:
    assert compressed_dimensions(png_claiming(20000, 20000)) == ("png", 20000, 20000)
    assert compressed_dimensions(jpeg_claiming(20000, 20000)) == ("jpeg", 20000, 20000)


@pytest.mark.parametrize("data", [png_claiming(20000, 20000), jpeg_claiming(20000, 20000)],
                         ids=["png", "jpeg"])
def test_bombs_are_refused_before_the_decoder_runs(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoder(*args, **kwargs):
        raise AssertionError("the decoder was called for an over-limit image")

    monkeypatch.setattr(image_codec, "_PILLOW_CODECS", {"png": no_decoder, "jpeg": no_decoder})
    with pytest.raises(ImageDecodeError, match=r"20000x20000 .* exceeds max_image_pixels 16777216"):
        compressed_to_rgb("png", data)


def test_the_limit_is_a_parameter_and_zero_disables_it() -> None:
    data = encoded(".png", 48, 64)
    assert compressed_to_rgb("png", data, max_pixels=48 * 64).shape == (48, 64, 3)
    with pytest.raises(ImageDecodeError, match="exceeds max_image_pixels 3071"):
        compressed_to_rgb("png", data, max_pixels=48 * 64 - 1)
    assert compressed_to_rgb("png", data, max_pixels=0).shape == (48, 64, 3)
    assert DEFAULT_MAX_IMAGE_PIXELS == 4096 * 4096


def test_raw_frames_are_checked_on_their_fields_first() -> None:
    # A 10000x10000 rgb8 claim: refused for its size, not for the (tiny) data it carries.
    with pytest.raises(ImageDecodeError, match="10000x10000 .* exceeds max_image_pixels"):
        image_to_rgb("rgb8", 10000, 10000, 30000, bytes(12))
    rgb = np.zeros((20, 30, 3), np.uint8)
    assert image_to_rgb("rgb8", 20, 30, 90, rgb.tobytes(), max_pixels=600).shape == (20, 30, 3)
    with pytest.raises(ImageDecodeError, match="exceeds max_image_pixels 599"):
        image_to_rgb("rgb8", 20, 30, 90, rgb.tobytes(), max_pixels=599)
    with pytest.raises(ImageDecodeError, match="truncated"):  # step * height vs the data
        image_to_rgb("rgb8", 20, 30, 90, rgb.tobytes()[:-1])


@pytest.mark.parametrize("data, match", [
    (b"GIF89a" + bytes(40), "neither PNG nor JPEG"),
    (b"\x89PNG\r\n\x1a\n" + bytes(30), "IHDR"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(9) + b"\xff\xda\x00\x08", "no frame header"),
    (png_claiming(0, 48), "empty size"),
])
def test_malformed_headers_are_bad_frames(data: bytes, match: str) -> None:
    with pytest.raises(ImageDecodeError, match=match):
        compressed_to_rgb("png", data)


def test_a_second_frame_header_is_refused() -> None:
    jpg = encoded(".jpg")
    sof = jpg.index(b"\xff\xc0")
    second = jpg[:sof] + jpg[sof:sof + 19] + jpg[sof:]  # SOF0 twice: the 2nd could claim any size
    with pytest.raises(ImageDecodeError, match="more than one frame header"):
        compressed_to_rgb("jpeg", second)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "I;16"])
def test_every_png_mode_decodes_to_rgb(mode: str) -> None:
    import io

    from PIL import Image

    grey = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 20
    image = Image.fromarray(grey) if mode == "I;16" else \
        Image.fromarray((grey >> 8).astype(np.uint8), "L").convert(mode)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    rgb = compressed_to_rgb("png", buf.getvalue())
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], (grey >> 8).astype(np.uint8))


def test_corrupt_frames_decode_without_a_line_on_stderr() -> None:
    """OpenCV and libjpeg print one line per corrupt frame; our decoder prints nothing."""
    code = textwrap.dedent("""
        import sys
        from anchor_reloc_ros.data.image_codec import ImageDecodeError, compressed_to_rgb
        from bad_images import CORRUPT_FRAMES
        for name, data in CORRUPT_FRAMES.items():
            for _ in range(3):
                try:
                    compressed_to_rgb("jpeg", data)
                    outcome = "decoded"
                except ImageDecodeError:
                    outcome = "bad"
            print(name, outcome, flush=True)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "test"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=str(REPO), env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == len(CORRUPT_FRAMES)
    assert proc.stderr == "", f"the decoders printed:\n{proc.stderr}"
    assert "truncated png bad" in proc.stdout and "truncated jpeg bad" in proc.stdout


def test_the_offline_bag_reader_applies_the_same_default_limit(tmp_path: Path) -> None:
    from anchor_reloc_ros.data.rosbag_images import FrameStats, iter_bag_images
    from anchor_reloc_ros.data.rosbag_io import BagReader, header_msg, msg_class
    from bag_helpers import SEC, T0, image_msg, random_rgb, write_bag

    compressed = msg_class("sensor_msgs/msg/CompressedImage")
    bomb = compressed(header=header_msg(T0 + SEC, "cam"), format="png",
                      data=np.frombuffer(png_claiming(20000, 20000), np.uint8))
    frames = [("/cam", T0, image_msg(random_rgb(0), T0, compressed=True)), ("/cam", T0 + SEC, bomb),
              ("/cam", T0 + 2 * SEC, image_msg(random_rgb(1), T0 + 2 * SEC, compressed=True))]
    bag = write_bag(tmp_path / "bomb", {"/cam": "sensor_msgs/msg/CompressedImage"}, frames)
    stats = FrameStats()
    with BagReader(bag) as reader:
        decoded = list(iter_bag_images(reader, "/cam", stats))
    assert [f.index for f in decoded] == [0, 2] and stats.bad == 1
    assert f"exceeds max_image_pixels {DEFAULT_MAX_IMAGE_PIXELS}" in stats.bad_reasons[0]
