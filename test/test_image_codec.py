"""Image message decoding without cv_bridge: every encoding, row padding, every error."""
from __future__ import annotations

import array
import importlib.util

import numpy as np
import pytest

from anchor_reloc_ros.core.errors import AnchorRelocError
from anchor_reloc_ros.data.image_codec import (
    ImageDecodeError,
    compressed_to_rgb,
    image_to_rgb,
    message_to_rgb,
    rgb_to_compressed,
    rgb_to_image_fields,
)


def _rgb(height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _flat(height: int = 24, width: int = 32, colour=(200, 90, 30)) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (height, width, 3)).copy()


def _decode(fields: tuple, is_bigendian: bool = False) -> np.ndarray:
    encoding, height, width, step, data = fields
    return image_to_rgb(encoding, height, width, step, data, is_bigendian)


EXACT = ["rgb8", "bgr8", "rgba8", "bgra8", "8UC3", "8UC4"]


@pytest.mark.parametrize("encoding", EXACT)
@pytest.mark.parametrize("padding", [0, 5])
def test_colour_encodings_round_trip_exactly(encoding: str, padding: int) -> None:
    rgb = _rgb()
    out = _decode(rgb_to_image_fields(rgb, encoding, padding=padding))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)


def test_bgr8_really_swaps_channels() -> None:
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    out = image_to_rgb("bgr8", 2, 2, 6, bgr.tobytes(), False)
    assert out[0, 0].tolist() == [0, 0, 255]


@pytest.mark.parametrize("encoding", ["mono8", "8UC1", "mono16", "16UC1"])
@pytest.mark.parametrize("padding", [0, 6])
def test_mono_encodings_give_grey_rgb(encoding: str, padding: int) -> None:
    rgb = _rgb()
    out = _decode(rgb_to_image_fields(rgb, encoding, padding=padding))
    grey = rgb_to_image_fields(rgb, "mono8")[4]
    expected = np.frombuffer(grey, np.uint8).reshape(24, 32)
    np.testing.assert_array_equal(out[..., 0], expected)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


@pytest.mark.parametrize("big", [False, True])
def test_mono16_respects_endianness_and_scales_to_8_bit(big: bool) -> None:
    values = np.array([[0, 256, 65535, 4096]], dtype=">u2" if big else "<u2")
    out = image_to_rgb("mono16", 1, 4, 8, values.tobytes(), big)
    assert out[0, :, 0].tolist() == [0, 1, 255, 16]


@pytest.mark.parametrize("encoding", ["bayer_rggb8", "bayer_bggr8", "bayer_gbrg8", "bayer_grbg8"])
@pytest.mark.parametrize("padding", [0, 3])
def test_bayer_patterns_demosaic_to_the_right_colour(encoding: str, padding: int) -> None:
    colour = (200, 90, 30)
    out = _decode(rgb_to_image_fields(_flat(colour=colour), encoding, padding=padding))
    # Interior pixels of a flat field demosaic back to the exact colour.
    np.testing.assert_allclose(out[4:-4, 4:-4].reshape(-1, 3).mean(0), colour, atol=2)


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
@pytest.mark.parametrize("padding", [0, 4])
def test_yuv422_encodings(encoding: str, padding: int) -> None:
    rgb = _flat(colour=(40, 160, 220))
    out = _decode(rgb_to_image_fields(rgb, encoding, padding=padding))
    assert out.shape == rgb.shape
    np.testing.assert_allclose(out.astype(float), rgb.astype(float), atol=6)


def test_uyvy_and_yuyv_byte_orders_differ() -> None:
    rgb = _flat(colour=(40, 160, 220))
    uyvy = rgb_to_image_fields(rgb, "yuv422")[4]
    yuyv = rgb_to_image_fields(rgb, "yuv422_yuy2")[4]
    assert uyvy != yuyv
    wrong = image_to_rgb("yuv422", 24, 32, 64, yuyv, False)
    assert np.abs(wrong.astype(int) - rgb).max() > 30


def test_rgb8_is_a_zero_copy_view_even_with_padding() -> None:
    rgb = _rgb()
    fields = rgb_to_image_fields(rgb, "rgb8", padding=7)
    buffer = np.frombuffer(fields[4], np.uint8)
    out = image_to_rgb(*fields[:4], buffer, False)
    assert np.shares_memory(out, buffer)
    np.testing.assert_array_equal(out, rgb)


def test_accepts_array_array_and_numpy_payloads() -> None:
    rgb = _rgb()
    encoding, height, width, step, data = rgb_to_image_fields(rgb, "bgr8")
    for payload in (array.array("B", data), np.frombuffer(data, np.uint8).copy(), bytearray(data)):
        np.testing.assert_array_equal(image_to_rgb(encoding, height, width, step, payload, False), rgb)


@pytest.mark.parametrize(
    "fields, match",
    [
        (("rgb16", 2, 2, 12, bytes(24)), "unsupported image encoding"),
        (("", 2, 2, 6, bytes(12)), "unsupported image encoding"),
        (("rgb8", 2, 2, 6, bytes(11)), "truncated"),
        (("rgb8", 2, 2, 6, bytes(0)), "truncated"),
        (("rgb8", 2, 2, 6, bytes(13)), "wrong size"),
        (("rgb8", 2, 2, 5, bytes(10)), "smaller than one row"),
        (("rgb8", 0, 2, 6, bytes(0)), "empty size"),
        (("rgb8", 2, -1, 6, bytes(12)), "empty size"),
        (("yuv422", 2, 3, 6, bytes(12)), "must be even"),
        (("mono16", 1, 2, 5, bytes(5)), "multiple of 2"),
        (("rgb8", 1, 1, 3, np.zeros(3, np.float32)), "uint8"),
    ],
)
def test_malformed_images_raise_image_decode_error(fields: tuple, match: str) -> None:
    with pytest.raises(ImageDecodeError, match=match):
        image_to_rgb(*fields, False)


def test_image_decode_error_is_a_package_error() -> None:
    assert issubclass(ImageDecodeError, AnchorRelocError)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_compressed_round_trip(fmt: str) -> None:
    rgb = _flat(colour=(200, 90, 30))
    format_string, data = rgb_to_compressed(rgb, fmt)
    assert fmt in format_string
    out = compressed_to_rgb(format_string, data)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    np.testing.assert_allclose(out.astype(float), rgb.astype(float), atol=3 if fmt == "jpeg" else 0)


def test_compressed_png_is_lossless_on_noise() -> None:
    rgb = _rgb()
    np.testing.assert_array_equal(compressed_to_rgb(*rgb_to_compressed(rgb, "png")), rgb)


@pytest.mark.parametrize(
    "fmt, data, match",
    [
        ("jpeg", b"", "no data"),
        ("jpeg", b"\xff\xd8\xff\xe0 definitely not a jpeg", "could not be decoded"),
        ("png", bytes(100), "could not be decoded"),
        ("16UC1; compressedDepth png", b"\x00" * 20, "depth"),
    ],
)
def test_undecodable_compressed_images_raise(fmt: str, data: bytes, match: str) -> None:
    with pytest.raises(ImageDecodeError, match=match):
        compressed_to_rgb(fmt, data)


def test_truncated_jpeg_raises() -> None:
    fmt, data = rgb_to_compressed(_rgb(64, 64), "jpeg")
    with pytest.raises(ImageDecodeError):
        compressed_to_rgb(fmt, data[:20])


def test_message_to_rgb_dispatches_on_fields() -> None:
    class Raw:  # the duck type of sensor_msgs/Image
        encoding, height, width, step, data = rgb_to_image_fields(_rgb(), "bgr8")
        is_bigendian = 0

    class Compressed:  # ... and of sensor_msgs/CompressedImage
        format, data = rgb_to_compressed(_rgb(), "png")

    np.testing.assert_array_equal(message_to_rgb(Raw()), _rgb())
    np.testing.assert_array_equal(message_to_rgb(Compressed()), _rgb())


def test_inverse_rejects_non_rgb_input() -> None:
    with pytest.raises(ValueError):
        rgb_to_image_fields(np.zeros((4, 4), np.uint8), "rgb8")
    with pytest.raises(ValueError):
        rgb_to_compressed(_rgb(), "webp")


@pytest.mark.skipif(importlib.util.find_spec("cv_bridge") is None,
                    reason="cv_bridge is not installable from pip; cross-check only on a ROS install")
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "bayer_rggb8", "yuv422"])
def test_matches_cv_bridge(encoding: str) -> None:
    from cv_bridge import CvBridge
    from sensor_msgs.msg import Image

    fields = rgb_to_image_fields(_rgb(), encoding)
    msg = Image(encoding=fields[0], height=fields[1], width=fields[2], step=fields[3], data=fields[4])
    expected = CvBridge().imgmsg_to_cv2(msg, desired_encoding="rgb8")
    np.testing.assert_array_equal(_decode(fields), expected)
