"""Hostile compressed frames for the decoder and node tests, built from real encodings.

* ``png_claiming`` / ``jpeg_claiming``: a real small PNG/JPEG whose header is rewritten
  to claim another size (PNG with a correct IHDR CRC), i.e. a decompression bomb that
  costs nothing to build;
* ``CORRUPT_FRAMES``: JPEG/PNG payloads on which OpenCV, libjpeg or libpng print a
  stderr line when they decode them.
"""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


def encoded(ext: str, height: int = 48, width: int = 64, seed: int = 0, params: tuple = ()) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    ok, data = cv2.imencode(ext, rgb, list(params))
    assert ok
    return data.tobytes()


def png_claiming(width: int, height: int) -> bytes:
    """A valid small PNG whose IHDR (CRC recomputed) says ``width`` x ``height``."""
    png = bytearray(encoded(".png"))
    assert png[12:16] == b"IHDR"
    png[16:24] = struct.pack(">II", width, height)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    return bytes(png)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A valid small baseline JPEG whose frame header (SOF0) says ``width`` x ``height``."""
    jpg = bytearray(encoded(".jpg"))
    sof = jpg.index(b"\xff\xc0")
    assert sof < jpg.index(b"\xff\xda")
    jpg[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(jpg)


def _corrupt_frames() -> dict[str, bytes]:
    jpg, png = encoded(".jpg"), encoded(".png")
    return {
        # libjpeg: "Corrupt JPEG data: 3 extraneous bytes before marker 0xd9"
        "jpeg with extraneous bytes": jpg[:-2] + b"\x00\x11\x22" + jpg[-2:],
        "jpeg zeroed mid-scan": jpg[:300] + bytes(50) + jpg[350:],
        "truncated jpeg": jpg[: len(jpg) // 2],
        # OpenCV: "grfmt_png.cpp ... IHDR chunk shall be first"
        "png without IHDR": png[:8] + png[33:],
        # libpng: "IHDR: CRC error"
        "png with a bad IHDR crc": png[:29] + b"\0\0\0\0" + png[33:],
        "truncated png": png[: len(png) // 2],
    }


CORRUPT_FRAMES = _corrupt_frames()
