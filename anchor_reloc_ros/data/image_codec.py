"""ROS image messages <-> numpy RGB, with numpy and OpenCV only (no cv_bridge, no rclpy).

Duck-typed on the message *fields*, so the same functions serve rclpy messages,
rosbags messages and hand-made test data:

* ``image_to_rgb(encoding, height, width, step, data, is_bigendian)`` decodes a
  ``sensor_msgs/Image`` into an HxWx3 uint8 RGB array;
* ``compressed_to_rgb(format, data)`` decodes a ``sensor_msgs/CompressedImage``;
* ``rgb_to_image_fields`` / ``rgb_to_compressed`` are the inverses, for tests and bag
  writers.

Decoding respects ``step`` row padding and ``is_bigendian``. ``rgb8`` input comes back
as a zero-copy (read-only when the buffer is) view of the message data; every other
encoding costs exactly one OpenCV conversion. Anything malformed raises
``ImageDecodeError`` with a message that says what is wrong.

Every decoder takes ``max_pixels`` (default ``DEFAULT_MAX_IMAGE_PIXELS``; 0 = no limit):
a frame whose declared width x height exceeds it is refused from its header (raw
fields, PNG IHDR, JPEG SOF; see ``image_header``) before anything is allocated.

Compressed frames are PNG or JPEG only, decoded by Pillow's codec classes: unlike
OpenCV's, they never print (libjpeg's "Corrupt JPEG data" warnings, libpng's and
OpenCV's own messages all go straight to stderr, one unthrottled line per corrupt
frame). Failures come back as ``ImageDecodeError`` for the caller to count and log.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, JpegImagePlugin, PngImagePlugin

from .image_header import (
    DEFAULT_MAX_IMAGE_PIXELS,
    ImageDecodeError,
    check_pixel_limit,
    compressed_dimensions,
)

_PILLOW_CODECS = {"png": PngImagePlugin.PngImageFile, "jpeg": JpegImagePlugin.JpegImageFile}


@dataclass(frozen=True)
class _Encoding:
    channels: int           # values per pixel in the message
    dtype: str              # numpy dtype of one value ("u1" or "u2")
    to_rgb: int | None      # cv2.cvtColor code to RGB; None = already RGB
    from_rgb: int | None    # cv2.cvtColor code from RGB; None = already this encoding
    bayer: str = ""         # 2x2 pattern, row-major, for the mosaic inverse

    @property
    def bytes_per_pixel(self) -> int:
        return self.channels * np.dtype(self.dtype).itemsize


# OpenCV's historical Bayer names describe the pattern one pixel in from the corner,
# so ROS "rggb" (R at the top-left) is OpenCV "BayerBG" (alias "BayerRGGB" in >= 4.5).
_ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(3, "u1", None, None),
    "bgr8": _Encoding(3, "u1", cv2.COLOR_BGR2RGB, cv2.COLOR_RGB2BGR),
    "rgba8": _Encoding(4, "u1", cv2.COLOR_RGBA2RGB, cv2.COLOR_RGB2RGBA),
    "bgra8": _Encoding(4, "u1", cv2.COLOR_BGRA2RGB, cv2.COLOR_RGB2BGRA),
    "mono8": _Encoding(1, "u1", cv2.COLOR_GRAY2RGB, cv2.COLOR_RGB2GRAY),
    "mono16": _Encoding(1, "u2", cv2.COLOR_GRAY2RGB, cv2.COLOR_RGB2GRAY),
    "bayer_rggb8": _Encoding(1, "u1", cv2.COLOR_BayerBG2RGB, None, "rggb"),
    "bayer_bggr8": _Encoding(1, "u1", cv2.COLOR_BayerRG2RGB, None, "bggr"),
    "bayer_gbrg8": _Encoding(1, "u1", cv2.COLOR_BayerGR2RGB, None, "gbrg"),
    "bayer_grbg8": _Encoding(1, "u1", cv2.COLOR_BayerGB2RGB, None, "grbg"),
    "uyvy": _Encoding(2, "u1", cv2.COLOR_YUV2RGB_UYVY, cv2.COLOR_RGB2YUV_UYVY),
    "yuyv": _Encoding(2, "u1", cv2.COLOR_YUV2RGB_YUY2, cv2.COLOR_RGB2YUV_YUY2),
}
# Other names cameras and cv_bridge use for the same layouts.
_ALIASES = {
    "8uc1": "mono8", "8uc3": "bgr8", "8uc4": "bgra8", "16uc1": "mono16",
    "yuv422": "uyvy", "yuv422_yuy2": "yuyv",
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(sorted(list(_ENCODINGS) + list(_ALIASES)))


def _lookup(encoding: str) -> tuple[str, _Encoding]:
    key = str(encoding).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _ENCODINGS:
        raise ImageDecodeError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    return key, _ENCODINGS[key]


def _as_bytes(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """Flat uint8 view of any buffer (bytes, array.array, numpy) without copying."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageDecodeError(f"image data must be uint8, got {data.dtype}")
        return data.reshape(-1)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError):
        # e.g. a Python list of ints
        try:
            return np.asarray(data, dtype=np.uint8).reshape(-1)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ImageDecodeError(f"image data is not a byte buffer: {exc}") from exc


def _pixel_view(height: int, width: int, step: int, data, enc: _Encoding,
                is_bigendian: bool, encoding: str, max_pixels: int) -> np.ndarray:
    """(H, W, C) view of the payload with row padding dropped, no copy; the size, the pixel
    limit and ``step * height == len(data)`` are checked before the data is touched."""
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f"{encoding} image has an empty size {width}x{height}")
    check_pixel_limit(width, height, max_pixels, encoding)
    row_bytes = width * enc.bytes_per_pixel
    if step < row_bytes:
        raise ImageDecodeError(
            f"{encoding} image {width}x{height}: step {step} is smaller than one row "
            f"({row_bytes} bytes)"
        )
    buf = _as_bytes(data)
    expected = step * height
    if buf.size < expected:
        raise ImageDecodeError(
            f"{encoding} image {width}x{height} (step {step}) is truncated: "
            f"{buf.size} bytes, expected {expected}"
        )
    if buf.size > expected:
        raise ImageDecodeError(
            f"{encoding} image {width}x{height} (step {step}) has the wrong size: "
            f"{buf.size} bytes, expected {expected}"
        )
    rows = buf.reshape(height, step)[:, :row_bytes]
    if enc.dtype != "u1":
        if step % 2:
            raise ImageDecodeError(f"{encoding} image step {step} is not a multiple of 2")
        order = ">" if is_bigendian else "<"
        rows = rows.view(np.dtype(order + enc.dtype))
    return rows.reshape(height, width, enc.channels)


def image_to_rgb(encoding: str, height: int, width: int, step: int, data: bytes | np.ndarray,
                 is_bigendian: bool = False, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode the fields of a ``sensor_msgs/Image`` into an HxWx3 uint8 RGB array.

    16-bit mono is scaled to 8 bits by dropping the low byte (as cv_bridge does).
    Raises ``ImageDecodeError`` for an unknown encoding, a size/step/data mismatch or more
    than ``max_pixels`` pixels (0 = no limit).
    """
    key, enc = _lookup(encoding)
    if key in ("uyvy", "yuyv") and width % 2:
        raise ImageDecodeError(f"{encoding} image width {width} must be even")
    pixels = _pixel_view(int(height), int(width), int(step), data, enc, bool(is_bigendian), key,
                         int(max_pixels))
    if enc.dtype == "u2":
        pixels = (pixels >> 8).astype(np.uint8)
    if enc.to_rgb is None:
        return pixels
    return cv2.cvtColor(pixels, enc.to_rgb)


def message_to_rgb(msg, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an Image or CompressedImage message (rclpy or rosbags) by its fields."""
    if hasattr(msg, "format"):
        return compressed_to_rgb(msg.format, msg.data, max_pixels)
    return image_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data,
                        bool(msg.is_bigendian), max_pixels)


def compressed_to_rgb(format: str, data: bytes | np.ndarray,  # noqa: A002
                      max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (jpeg or png) into HxWx3 uint8 RGB.

    ``format`` may be a bare ``"jpeg"``/``"png"`` or image_transport's
    ``"rgb8; jpeg compressed bgr8"``; the payload itself decides the codec. The size in
    its header is checked against ``max_pixels`` (0 = no limit) before decoding. EXIF
    orientation is applied (as OpenCV's ``imdecode`` does); 16-bit PNGs keep their high byte.
    """
    fmt = str(format).lower()
    if "compresseddepth" in fmt:
        raise ImageDecodeError(f"compressed format {format!r} (depth) is not a camera image")
    buf = _as_bytes(data)
    if buf.size == 0:
        raise ImageDecodeError(f"compressed image ({format!r}) has no data")
    view = memoryview(np.ascontiguousarray(buf))
    try:
        kind, width, height = compressed_dimensions(view)
    except ImageDecodeError as exc:
        raise ImageDecodeError(
            f"compressed image ({format!r}, {buf.size} bytes) could not be decoded: {exc}") from None
    check_pixel_limit(width, height, int(max_pixels), kind)
    try:
        with _PILLOW_CODECS[kind](io.BytesIO(view)) as image:
            if image.size != (width, height):
                raise ImageDecodeError(f"{kind} image decodes as {image.size[0]}x{image.size[1]}, "
                                       f"its header says {width}x{height}")
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            return _pillow_to_rgb(image)
    except ImageDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for corrupt data
        raise ImageDecodeError(
            f"compressed image ({format!r}, {kind} {width}x{height}, {buf.size} bytes) could not be "
            f"decoded: {exc}"
        ) from None


def _pillow_to_rgb(image: PILImage.Image) -> np.ndarray:
    """HxWx3 uint8 RGB of a decoded Pillow image of any mode."""
    if image.mode.startswith("I"):  # 16-bit (or 32-bit) grey: keep the high byte, as cv2 does
        grey = (np.asarray(image).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def _mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Sample an RGB image through a 2x2 Bayer pattern such as ``"rggb"``."""
    out = np.empty(rgb.shape[:2], dtype=np.uint8)
    channel = {"r": 0, "g": 1, "b": 2}
    for i, colour in enumerate(pattern):
        dy, dx = divmod(i, 2)
        out[dy::2, dx::2] = rgb[dy::2, dx::2, channel[colour]]
    return out


def rgb_to_image_fields(rgb: np.ndarray, encoding: str = "rgb8", padding: int = 0
                        ) -> tuple[str, int, int, int, bytes]:
    """Encode HxWx3 uint8 RGB as ``(encoding, height, width, step, data)`` of an Image.

    ``padding`` extra bytes are appended to every row (a non-trivial ``step``). 16-bit
    output is little-endian (``is_bigendian = False``).
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB array, got shape {rgb.shape}")
    key, enc = _lookup(encoding)
    if enc.bayer:
        pixels = _mosaic(rgb, enc.bayer)
    elif enc.from_rgb is None:
        pixels = rgb
    else:
        pixels = cv2.cvtColor(rgb, enc.from_rgb)
    if enc.dtype == "u2":
        pixels = pixels.astype("<u2") * np.uint16(257)
    height, width = rgb.shape[:2]
    rows = np.ascontiguousarray(pixels).view(np.uint8).reshape(height, -1)
    if padding:
        rows = np.concatenate([rows, np.zeros((height, padding), np.uint8)], axis=1)
    return encoding, height, width, rows.shape[1], rows.tobytes()


def rgb_to_compressed(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> tuple[str, bytes]:
    """Encode HxWx3 uint8 RGB as ``(format, data)`` of a CompressedImage.

    The format string follows compressed_image_transport: ``"rgb8; jpeg compressed bgr8"``.
    """
    codec = fmt.lower()
    if codec in ("jpeg", "jpg"):
        ext, params, codec = ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)], "jpeg"
    elif codec == "png":
        ext, params = ".png", []
    else:
        raise ValueError(f"unsupported compressed format {fmt!r}; use 'jpeg' or 'png'")
    ok, encoded = cv2.imencode(ext, cv2.cvtColor(np.asarray(rgb, np.uint8), cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode the image as {codec}")
    return f"rgb8; {codec} compressed bgr8", encoded.tobytes()
