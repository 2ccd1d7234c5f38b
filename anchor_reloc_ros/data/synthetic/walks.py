"""Camera walks along a route: 10 Hz timestamps, smooth lateral/height/attitude motion.

A walk is sampled from a ``WalkStyle``; the TRAIN and TEST passes use different
styles (and different random draws), so they are different walks, not copies.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.geometry import R_BODY_OPTICAL, make_transform, matrix_to_quat
from .route import Route, smooth_noise

CLOCK_HZ = 10.0


@dataclass(frozen=True)
class WalkStyle:
    """How one pass moves: metres, degrees, m/s. Smooth terms vary over ``*_len`` metres."""

    speed: float = 1.4
    lateral_bias: float = 0.0  # constant offset, drawn in [-bias, bias]
    lateral_amp: float = 0.3
    lateral_len: float = 30.0
    height_mean: float = 1.6
    height_amp: float = 0.04
    yaw_amp_deg: float = 10.0
    yaw_len: float = 20.0
    pitch_mean_deg: float = 0.0
    pitch_amp_deg: float = 3.0
    roll_amp_deg: float = 1.0
    jitter_deg: float = 0.0  # per-frame white noise on yaw/pitch/roll (hand shake)


@dataclass(frozen=True)
class Walk:
    """Per-frame ``timestamps (N,)``, route coordinates and optical-frame poses ``T_world_cam``."""

    timestamps: np.ndarray
    s: np.ndarray
    lateral: np.ndarray
    heights: np.ndarray
    positions: np.ndarray
    quats_wxyz: np.ndarray
    rotations: np.ndarray  # (N, 3, 3) R_world_cam

    def __len__(self) -> int:
        return len(self.timestamps)

    def T_world_cam(self, i: int) -> np.ndarray:
        return make_transform(self.rotations[i], self.positions[i])


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def camera_rotations(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(N, 3, 3) ``R_world_cam`` of the OPTICAL frame for a body with world yaw (about z,
    0 = looking along +x), pitch (positive looks up) and roll (positive tilts right side down)."""
    R_world_body = _rot_z(yaw) @ _rot_y(-pitch) @ _rot_x(roll)
    return R_world_body @ R_BODY_OPTICAL


def _tick_positions(rng: np.random.Generator, s0: float, s1: float, n_frames: int, speed: float) -> np.ndarray:
    """Arc length at every 10 Hz clock tick of a walk with a gently varying pace."""
    n_ticks = max(n_frames, int(round((s1 - s0) / speed * CLOCK_HZ)))
    pace = 1.0 + 0.25 * smooth_noise(rng, np.arange(n_ticks) / CLOCK_HZ, 20.0)
    s = np.concatenate([[0.0], np.cumsum(pace[:-1])])
    return s0 + (s1 - s0) * s / s[-1]


def sample_walk(rng: np.random.Generator, route: Route, s_range: tuple[float, float], n_frames: int,
                style: WalkStyle, lateral_limit: float, t0: float) -> Walk:
    """Sample ``n_frames`` frames at 10 Hz clock ticks of one walk from ``s_range[0]`` to ``s_range[1]``."""
    if n_frames < 2:
        raise ValueError(f"a walk needs at least 2 frames, got {n_frames}")
    s_ticks = _tick_positions(rng, *s_range, n_frames, style.speed)
    ticks = np.round(np.linspace(0, len(s_ticks) - 1, n_frames)).astype(int)
    s = s_ticks[ticks]
    bias = rng.uniform(-style.lateral_bias, style.lateral_bias)
    lateral = np.clip(bias + style.lateral_amp * smooth_noise(rng, s, style.lateral_len), -lateral_limit, lateral_limit)
    heights = style.height_mean + style.height_amp * smooth_noise(rng, s, 25.0)

    def attitude(amp_deg: float, length: float) -> np.ndarray:
        smooth = amp_deg * smooth_noise(rng, s, length)
        return np.radians(smooth + style.jitter_deg * rng.standard_normal(n_frames))

    yaw = route.heading(s) + attitude(style.yaw_amp_deg, style.yaw_len)
    pitch = np.radians(style.pitch_mean_deg) + attitude(style.pitch_amp_deg, 15.0)
    roll = attitude(style.roll_amp_deg, 10.0)
    rotations = camera_rotations(yaw, pitch, roll)
    return Walk(timestamps=t0 + ticks / CLOCK_HZ, s=s, lateral=lateral, heights=heights,
                positions=route.to_world(s, lateral, heights), quats_wxyz=matrix_to_quat(rotations),
                rotations=rotations)
