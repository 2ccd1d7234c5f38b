"""Scene presets: layout builder, frame counts, and how TRAIN and TEST passes differ."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ...core.errors import ConfigError
from .layout import SceneLayout
from .layout_indoor import build_corridor, build_room
from .layout_street import build_street
from .renderer import Lighting
from .textures import TextureSet
from .walks import WalkStyle


@dataclass(frozen=True)
class LightingStyle:
    """Per-pass lighting draw: sun azimuth/elevation ranges (deg), exposure, ambient, fog."""

    azimuth_deg: tuple[float, float]
    elevation_deg: tuple[float, float]
    exposure: tuple[float, float]
    ambient: tuple[float, float]
    fog_density: float
    exposure_wobble: float = 0.08  # relative auto-exposure drift along the walk

    def sample(self, rng: np.random.Generator, azimuth_deg: float | None = None) -> Lighting:
        """A pass's base lighting; ``azimuth_deg`` overrides the drawn sun azimuth."""
        az = np.radians(rng.uniform(*self.azimuth_deg) if azimuth_deg is None else azimuth_deg)
        el = np.radians(rng.uniform(*self.elevation_deg))
        sun = (float(np.cos(el) * np.cos(az)), float(np.cos(el) * np.sin(az)), float(np.sin(el)))
        warmth = rng.uniform(-0.08, 0.08)
        return Lighting(sun_dir=sun, sun_colour=(1.0 + warmth, 0.97, 0.9 - warmth),
                        ambient=float(rng.uniform(*self.ambient)), exposure=float(rng.uniform(*self.exposure)),
                        fog_density=self.fog_density)


@dataclass(frozen=True)
class Preset:
    build: Callable[[np.random.Generator, TextureSet], SceneLayout]
    train_frames: int
    test_frames: int
    train_style: WalkStyle
    test_style: WalkStyle
    lighting: LightingStyle
    test_sun_shift_deg: tuple[float, float]  # the test sun is rotated by this much in azimuth
    test_exposure_scale: tuple[float, float]
    hfov_deg: float = 70.0


_STREET_TRAIN = WalkStyle(speed=1.4, lateral_bias=0.3, lateral_amp=0.5, height_mean=1.6, height_amp=0.04,
                          yaw_amp_deg=12.0, pitch_amp_deg=3.0, roll_amp_deg=1.0)
_STREET_TEST = replace(_STREET_TRAIN, speed=1.3, lateral_bias=1.0, lateral_amp=1.2, lateral_len=40.0,
                       height_mean=1.65, height_amp=0.15, yaw_amp_deg=18.0, yaw_len=15.0,
                       pitch_mean_deg=1.5, pitch_amp_deg=5.0, roll_amp_deg=2.0, jitter_deg=1.0)
_INDOOR_TRAIN = WalkStyle(speed=1.0, lateral_bias=0.1, lateral_amp=0.15, lateral_len=8.0, height_mean=1.5,
                          height_amp=0.03, yaw_amp_deg=20.0, yaw_len=6.0, pitch_amp_deg=4.0)
_INDOOR_TEST = replace(_INDOOR_TRAIN, speed=0.9, lateral_bias=0.25, lateral_amp=0.35, height_mean=1.45,
                       height_amp=0.12, yaw_amp_deg=28.0, yaw_len=5.0, pitch_mean_deg=-2.0, pitch_amp_deg=6.0,
                       roll_amp_deg=2.0, jitter_deg=1.0)
_INDOOR_LIGHT = LightingStyle(azimuth_deg=(0, 360), elevation_deg=(50, 80), exposure=(0.95, 1.15),
                              ambient=(0.55, 0.7), fog_density=0.0)

PRESETS: dict[str, Preset] = {
    "street": Preset(build_street, 800, 300, _STREET_TRAIN, _STREET_TEST,
                     LightingStyle(azimuth_deg=(0, 360), elevation_deg=(30, 60), exposure=(0.95, 1.1),
                                   ambient=(0.4, 0.5), fog_density=0.002),
                     test_sun_shift_deg=(70, 150), test_exposure_scale=(0.75, 0.9)),
    "room": Preset(build_room, 600, 200, _INDOOR_TRAIN, _INDOOR_TEST, _INDOOR_LIGHT,
                   test_sun_shift_deg=(60, 150), test_exposure_scale=(0.8, 0.9)),
    "corridor": Preset(build_corridor, 800, 300, _INDOOR_TRAIN, replace(_INDOOR_TEST, lateral_amp=0.3),
                       _INDOOR_LIGHT, test_sun_shift_deg=(60, 150), test_exposure_scale=(0.8, 0.9)),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown scene preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name]
