"""Image size from the first bytes of a PNG or JPEG, and the pixel limit checked with it.

A compressed frame's size is known before decoding: PNG stores it in the IHDR chunk
right after the signature, JPEG in its frame header (SOFn marker) before the scan. The
decoders allocate width x height x channels bytes up front, so a 400 kB PNG that claims
20000 x 20000 costs 1.2 GB and seconds of work. ``check_pixel_limit`` refuses such a
frame from its header alone; ``compressed_dimensions`` reads that header (pure Python,
a few bytes, no decoder involved).

``ImageDecodeError`` lives here (the lowest layer); ``image_codec`` re-exports it.
"""
from __future__ import annotations

from ..core.errors import AnchorRelocError

# 4096 x 4096 = 16.8 MP: above every common camera (4K UHD is 8.3 MP, a 12 MP phone
# 4000 x 3000), while a decoded RGB frame stays at or below 48 MiB.
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_SOS = 0xDA
_JPEG_EOI = 0xD9
# Markers without a length field: TEM, RST0..7 (SOI and EOI are handled apart).
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


class ImageDecodeError(AnchorRelocError):
    """An image message cannot be decoded: unknown encoding, wrong size, bad data."""


def check_pixel_limit(width: int, height: int, max_pixels: int, what: str) -> None:
    """``ImageDecodeError`` when ``width * height`` exceeds ``max_pixels`` (0 = no limit)."""
    if max_pixels > 0 and width * height > max_pixels:
        raise ImageDecodeError(
            f"{what} image {width}x{height} ({width * height} pixels) exceeds max_image_pixels "
            f"{max_pixels}: refused before decoding"
        )


def compressed_kind(data: bytes | memoryview) -> str:
    """``"png"`` or ``"jpeg"`` from the magic bytes; ``ImageDecodeError`` otherwise."""
    head = bytes(data[:8])
    if head == PNG_SIGNATURE:
        return "png"
    if head[:2] == JPEG_SOI:
        return "jpeg"
    raise ImageDecodeError(f"compressed image is neither PNG nor JPEG (starts with {head.hex(' ')})")


def compressed_dimensions(data: bytes | memoryview) -> tuple[str, int, int]:
    """``(kind, width, height)`` of a PNG or JPEG from its header; ``ImageDecodeError`` if the
    header is missing or malformed (the decoder would fail on it anyway)."""
    kind = compressed_kind(data)
    width, height = _png_size(data) if kind == "png" else _jpeg_size(data)
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"{kind} header declares an empty size {width}x{height}")
    return kind, width, height


def _png_size(data: bytes | memoryview) -> tuple[int, int]:
    # signature (8) | length (4) | "IHDR" | width (4) | height (4) | ... : big-endian
    ihdr = bytes(data[8:24])
    if len(ihdr) < 16 or ihdr[4:8] != b"IHDR":
        raise ImageDecodeError("png header is malformed: the IHDR chunk is not first")
    if int.from_bytes(ihdr[:4], "big") != 13:
        raise ImageDecodeError("png header is malformed: IHDR chunk length is not 13")
    return int.from_bytes(ihdr[8:12], "big"), int.from_bytes(ihdr[12:16], "big")


def _jpeg_size(data: bytes | memoryview) -> tuple[int, int]:
    """Walk the marker segments up to the first scan; exactly one frame header allowed."""
    size: tuple[int, int] | None = None
    pos, end = 2, len(data)
    while pos < end:
        if data[pos] != 0xFF:
            raise ImageDecodeError(f"jpeg header is malformed: no marker at byte {pos}")
        while pos < end and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (_JPEG_SOS, _JPEG_EOI):
            break
        if pos + 2 > end:
            break
        length = int.from_bytes(bytes(data[pos:pos + 2]), "big")
        if length < 2:
            raise ImageDecodeError(f"jpeg header is malformed: segment length {length} at byte {pos}")
        if marker in _JPEG_SOF:
            if size is not None:
                raise ImageDecodeError("jpeg header is malformed: more than one frame header (SOF)")
            if length < 8 or pos + 7 > end:
                raise ImageDecodeError("jpeg header is malformed: truncated frame header (SOF)")
            # length (2) | precision (1) | height (2) | width (2) | components (1) ...
            height = int.from_bytes(bytes(data[pos + 3:pos + 5]), "big")
            width = int.from_bytes(bytes(data[pos + 5:pos + 7]), "big")
            size = (width, height)
        pos += length
    if size is None:
        raise ImageDecodeError("jpeg header is malformed: no frame header (SOF) before the image data")
    return size
