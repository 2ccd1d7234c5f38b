"""Dataset output: PNGs written on a background thread, camera.yaml and scene.json."""
from __future__ import annotations

import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...core.errors import DatasetError
from .camera import PinholeCamera


class PngWriter:
    """Encodes RGB frames to PNG on worker threads (OpenCV releases the GIL).

    At most ``max_pending`` frames wait in memory; ``close`` waits for all and
    re-raises the first failure.
    """

    def __init__(self, workers: int = 2, max_pending: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="png")
        self._pending: deque[Future[None]] = deque()
        self._max_pending = max_pending

    @staticmethod
    def _write(path: Path, rgb: np.ndarray) -> None:
        if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 3]):
            raise DatasetError(f"could not write image {path}")

    def submit(self, path: Path, rgb: np.ndarray) -> None:
        while len(self._pending) >= self._max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, path, rgb.copy()))

    def close(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> "PngWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _yaml_matrix(name: str, rows: int, cols: int, values: np.ndarray) -> list[str]:
    data = ", ".join(repr(float(v)) for v in np.asarray(values, dtype=np.float64).reshape(-1))
    return [f"{name}:", f"  rows: {rows}", f"  cols: {cols}", f"  data: [{data}]"]


def write_camera_yaml(path: Path, camera: PinholeCamera, camera_name: str) -> Path:
    """ROS ``camera_calibration_parsers`` YAML (CameraInfo fields) for an undistorted pinhole camera."""
    P = np.hstack([camera.K, np.zeros((3, 1))])
    lines = [
        f"image_width: {camera.width}",
        f"image_height: {camera.height}",
        f"camera_name: {camera_name}",
        *_yaml_matrix("camera_matrix", 3, 3, camera.K),
        "distortion_model: plumb_bob",
        *_yaml_matrix("distortion_coefficients", 1, 5, np.zeros(5)),
        *_yaml_matrix("rectification_matrix", 3, 3, np.eye(3)),
        *_yaml_matrix("projection_matrix", 3, 4, P),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_scene_json(path: Path, info: dict[str, Any]) -> Path:
    path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
