"""Training augmentation that leaves the pose label valid.

Only photometric changes and small centred zooms are used: colour jitter does not move
the camera, and a crop of scale ``s`` kept near the image centre then resized back is
the same camera with its focal length scaled by ``1/s`` (and a principal point shift
bounded by ``crop_max_shift``), which a pose regressor tolerates at ``s >= 0.85``.
Flips and rotations would change the pose and are deliberately absent.

Works on HxWx3 ``uint8`` RGB arrays with OpenCV look-up tables so that it stays cheap
on a couple of CPU cores.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core.errors import ConfigError


@dataclass(frozen=True)
class AugmentParams:
    """Augmentation strengths; store ``dataclasses.asdict(params)`` in checkpoints.

    * ``brightness`` / ``contrast`` / ``saturation``: factors drawn from ``[1-v, 1+v]``.
    * ``hue``: shift drawn from ``[-v, v]`` in turns of the colour wheel (max 0.5).
    * ``crop_scale``: side length of the crop relative to the image, drawn uniformly;
      the aspect ratio is preserved and the crop is resized back to the input size.
    * ``crop_max_shift``: how far the crop centre may move from the image centre, as a
      fraction of the free margin (0 = always centred, 1 = anywhere).
    """

    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.05
    crop_scale_min: float = 0.85
    crop_scale_max: float = 1.0
    crop_max_shift: float = 0.5

    def __post_init__(self) -> None:
        for name in ("brightness", "contrast", "saturation"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"augment {name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.hue <= 0.5:
            raise ConfigError(f"augment hue must be in [0, 0.5], got {self.hue}")
        if not 0.0 < self.crop_scale_min <= self.crop_scale_max <= 1.0:
            raise ConfigError(
                "augment crop scales need 0 < min <= max <= 1, got "
                f"{self.crop_scale_min}..{self.crop_scale_max}"
            )
        if not 0.0 <= self.crop_max_shift <= 1.0:
            raise ConfigError(f"augment crop_max_shift must be in [0, 1], got {self.crop_max_shift}")


NO_AUGMENTATION = AugmentParams(0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0)

_IDENTITY_LUT = np.arange(256, dtype=np.float64)


class Augmenter:
    """Random crop + colour jitter driven by a seeded ``numpy.random.Generator``.

    Give each data-loader worker its own seed (e.g. ``base_seed + worker_id``) so the
    streams differ but runs are reproducible.
    """

    def __init__(self, params: AugmentParams = AugmentParams(), seed: int | None = 0) -> None:
        self.params = params
        self.rng = np.random.default_rng(seed)

    def __call__(self, image_HW3: np.ndarray) -> np.ndarray:
        if image_HW3.dtype != np.uint8 or image_HW3.ndim != 3 or image_HW3.shape[2] != 3:
            raise ValueError(f"Augmenter expects HxWx3 uint8 RGB, got {image_HW3.dtype} {image_HW3.shape}")
        out = self._crop(image_HW3)
        out = self._brightness_contrast(out)
        return self._saturation_hue(out)

    def _factor(self, strength: float) -> float:
        return float(self.rng.uniform(1.0 - strength, 1.0 + strength)) if strength > 0 else 1.0

    def _crop(self, image: np.ndarray) -> np.ndarray:
        p = self.params
        scale = float(self.rng.uniform(p.crop_scale_min, p.crop_scale_max))
        h, w = image.shape[:2]
        ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
        if (ch, cw) == (h, w):
            return image
        shift_y, shift_x = self.rng.uniform(-p.crop_max_shift, p.crop_max_shift, size=2)
        top = round((h - ch) / 2 * (1.0 + shift_y))
        left = round((w - cw) / 2 * (1.0 + shift_x))
        crop = image[top:top + ch, left:left + cw]
        return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)

    def _brightness_contrast(self, image: np.ndarray) -> np.ndarray:
        b = self._factor(self.params.brightness)
        c = self._factor(self.params.contrast)
        if b == 1.0 and c == 1.0:
            return image
        # x -> c * (b x - m) + m with m the mean grey level after brightness: one LUT.
        mean = b * float(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).mean())
        lut = np.clip(c * (b * _IDENTITY_LUT - mean) + mean, 0, 255)
        return cv2.LUT(image, np.rint(lut).astype(np.uint8))

    def _saturation_hue(self, image: np.ndarray) -> np.ndarray:
        s = self._factor(self.params.saturation)
        shift = float(self.rng.uniform(-self.params.hue, self.params.hue)) if self.params.hue > 0 else 0.0
        if s == 1.0 and shift == 0.0:
            return image
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)  # hue on 0..255
        hue = np.rint(_IDENTITY_LUT + shift * 256.0).astype(np.int64) % 256
        sat = np.clip(np.rint(_IDENTITY_LUT * s), 0, 255)
        hsv[..., 0] = cv2.LUT(hsv[..., 0], hue.astype(np.uint8))
        hsv[..., 1] = cv2.LUT(hsv[..., 1], sat.astype(np.uint8))
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
