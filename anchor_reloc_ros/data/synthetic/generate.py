"""``make_scene``: render a posed TRAIN walk, a different TEST walk and a VAL walk into a Cambridge-style folder.

The VAL walk is drawn like the test walk (test-style offsets and an independently drawn
sun shift) but without the test-only occluders, so a training run can choose its
checkpoint and calibrate its covariance on frames that differ from training the way
test frames do, without ever seeing the test walk.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ...core.errors import ConfigError
from ..cambridge import write_cambridge_split
from ..frames import PosedFrame
from ..tum import write_tum
from .camera import PinholeCamera
from .layout import STATIC, TEST_ONLY, SceneLayout
from .presets import Preset, get_preset
from .renderer import Lighting, SceneRenderer, create_context
from .route import smooth_noise
from .textures import TextureSet, build_textures
from .walks import Walk, sample_walk
from .writer import PngWriter, write_camera_yaml, write_scene_json

GENERATOR_VERSION = 1
OUTPUT_NAMES = frozenset({"seq-train", "seq-test", "seq-val", "dataset_train.txt", "dataset_test.txt",
                          "dataset_val.txt", "train_gt.tum", "test_gt.tum", "val_gt.tum", "camera.yaml", "scene.json"})
TRAIN_T0 = 100.0  # seconds; the test walk starts an hour after the train walk ends


@dataclass(frozen=True)
class SceneConfig:
    """What to render. ``None`` frame counts take the preset's defaults."""

    preset: str
    out_dir: Path
    seed: int = 0
    width: int = 320
    height: int = 240
    train_frames: int | None = None
    test_frames: int | None = None
    val_frames: int | None = None  # None: half the test walk's frames (at least 2); 0: no val walk
    samples: int = 4  # MSAA samples per pixel
    # None: the seed's own test and val walks. Else new ones (walks and their light) drawn from
    # (seed, walk_seed) through the same scene, after the same training walk: more held-out walks.
    walk_seed: int | None = None


@dataclass(frozen=True)
class SplitPlan:
    name: str
    walk: Walk
    lighting: Lighting
    exposures: np.ndarray
    groups: tuple[str, ...]


def _validate(config: SceneConfig, preset: Preset) -> tuple[int, int, int]:
    for name in ("seed", "walk_seed"):
        value = getattr(config, name)
        if value is not None and value < 0:
            raise ConfigError(f"{name.replace('_', '-')} must be a non-negative integer, got {value}")
    if config.width < 16 or config.height < 16:
        raise ConfigError(f"image size {config.width}x{config.height} is too small (at least 16x16)")
    n_train = preset.train_frames if config.train_frames is None else config.train_frames
    n_test = preset.test_frames if config.test_frames is None else config.test_frames
    n_val = max(2, n_test // 2) if config.val_frames is None else config.val_frames
    if n_train < 2 or n_test < 2:
        raise ConfigError(f"need at least 2 train and 2 test frames, got {n_train} and {n_test}")
    if n_val == 1 or n_val < 0:
        raise ConfigError(f"need 0 (no val walk) or at least 2 val frames, got {n_val}")
    return n_train, n_test, n_val


def _prepare_output(out: Path) -> None:
    """Accept a missing, empty or earlier make-scene folder; drop its old frames."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {out} exists and is not a folder")
    foreign = sorted(p.name for p in out.glob("*") if p.name not in OUTPUT_NAMES) if out.is_dir() else []
    if foreign:
        raise ConfigError(f"output folder {out} holds files make-scene did not write ({', '.join(foreign[:3])}); "
                          "choose an empty or new folder")
    for old in out.glob("seq-*/frame*.png"):
        old.unlink()
    for stale in ("dataset_val.txt", "val_gt.tum"):  # a val-less re-render must not keep an old val list
        (out / stale).unlink(missing_ok=True)


def _shifted_light(rng: np.random.Generator, preset: Preset, train_light: Lighting) -> Lighting:
    """A pass lit like the test walk: sun azimuth rotated, exposure scaled (preset ranges)."""
    train_az = np.degrees(np.arctan2(train_light.sun_dir[1], train_light.sun_dir[0]))
    shift = rng.uniform(*preset.test_sun_shift_deg) * rng.choice([-1.0, 1.0])
    scale = rng.uniform(*preset.test_exposure_scale) ** rng.choice([-1.0, 1.0])
    return replace(preset.lighting.sample(rng, azimuth_deg=train_az + shift),
                   exposure=float(train_light.exposure * scale))


def _plan_splits(rngs: list[np.random.Generator], preset: Preset, layout: SceneLayout,
                 n_train: int, n_test: int, n_val: int, walk_seed: int | None, seed: int) -> list[SplitPlan]:
    # The val walk draws from its own generator, so train and test are identical with or without it.
    r_train, r_test, r_light, r_val = rngs
    style = preset.lighting
    train_light = style.sample(r_light)
    test_light = _shifted_light(r_light, preset, train_light)
    if walk_seed is not None:   # other held-out walks: their own generators, the same training pass
        r_test, r_val = (np.random.default_rng(s) for s in np.random.SeedSequence([seed, walk_seed]).spawn(2))
        test_light = _shifted_light(r_test, preset, train_light)
    train = sample_walk(r_train, layout.route, layout.train_s, n_train, preset.train_style,
                        layout.lateral_limit, TRAIN_T0)
    test = sample_walk(r_test, layout.route, layout.test_s, n_test, preset.test_style,
                       layout.lateral_limit, float(train.timestamps[-1]) + 3600.0)
    passes = [("train", train, train_light, (STATIC,), r_light), ("test", test, test_light, (STATIC, TEST_ONLY), r_light)]
    if n_val:
        val = sample_walk(r_val, layout.route, layout.test_s, n_val, preset.test_style,
                          layout.lateral_limit, float(test.timestamps[-1]) + 3600.0)
        passes.append(("val", val, _shifted_light(r_val, preset, train_light), (STATIC,), r_val))
    plans = []
    for name, walk, light, groups, rng in passes:
        wobble = 1.0 + style.exposure_wobble * smooth_noise(rng, walk.timestamps, 30.0)
        plans.append(SplitPlan(name, walk, light, light.exposure * wobble, groups))
    return plans


@dataclass(frozen=True)
class ScenePlan:
    """Everything decided before rendering: camera, textures, geometry and both walks."""

    config: SceneConfig
    camera: PinholeCamera
    textures: TextureSet
    layout: SceneLayout
    preset: Preset
    splits: list[SplitPlan]


def plan_scene(config: SceneConfig) -> ScenePlan:
    """Build textures, layout and walks for ``config`` (deterministic in the seed; no rendering)."""
    preset = get_preset(config.preset)
    n_train, n_test, n_val = _validate(config, preset)
    seeds = np.random.SeedSequence(config.seed).spawn(6)  # the first five as before the val walk existed
    rng_tex, rng_layout, *rng_walks = (np.random.default_rng(s) for s in seeds)
    textures = build_textures(rng_tex)
    layout = preset.build(rng_layout, textures)
    camera = PinholeCamera.from_hfov(config.width, config.height, preset.hfov_deg)
    splits = _plan_splits(rng_walks, preset, layout, n_train, n_test, n_val, config.walk_seed, config.seed)
    return ScenePlan(config, camera, textures, layout, preset, splits)


def render_frame(renderer: SceneRenderer, split: SplitPlan, i: int) -> np.ndarray:
    """Frame ``i`` of a split exactly as ``make_scene`` writes it (RGB uint8)."""
    lighting = replace(split.lighting, exposure=float(split.exposures[i]))
    seed_base = {"train": 0.0, "test": 0.5, "val": 0.25}[split.name]
    return renderer.render(split.walk.T_world_cam(i), lighting, split.groups,
                           noise_seed=(seed_base + 0.6180339887 * i) % 1.0)


def frame_name(split: str, i: int) -> str:
    return f"seq-{split}/frame{i:05d}.png"


def _render_split(renderer: SceneRenderer, split: SplitPlan, root: Path, writer: PngWriter) -> list[PosedFrame]:
    (root / f"seq-{split.name}").mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(len(split.walk)):
        name = frame_name(split.name, i)
        writer.submit(root / name, render_frame(renderer, split, i))
        frames.append(PosedFrame(image_path=root / name, position=split.walk.positions[i],
                                 quat_wxyz=split.walk.quats_wxyz[i], name=name,
                                 timestamp=float(split.walk.timestamps[i])))
    return frames


def _scene_info(plan: ScenePlan, seconds: float) -> dict:
    config, camera, layout, preset = plan.config, plan.camera, plan.layout, plan.preset
    route_length = layout.route.length if layout.route.closed else layout.train_s[1] - layout.train_s[0]
    splits = {}
    for split in plan.splits:
        walk = split.walk
        splits[split.name] = {
            "frames": len(walk),
            "style": asdict(preset.train_style if split.name == "train" else preset.test_style),
            "sun_dir": list(split.lighting.sun_dir),
            "exposure": split.lighting.exposure,
            "ambient": split.lighting.ambient,
            "lateral_abs_mean_m": float(np.mean(np.abs(walk.lateral))),
            "lateral_abs_max_m": float(np.max(np.abs(walk.lateral))),
            "height_range_m": [float(walk.heights.min()), float(walk.heights.max())],
            "duration_s": float(walk.timestamps[-1] - walk.timestamps[0]),
            "mesh_groups": list(split.groups),
        }
    return {
        "generator": "anchor_reloc_ros.data.synthetic", "generator_version": GENERATOR_VERSION,
        "preset": config.preset, "seed": config.seed, "walk_seed": config.walk_seed,
        "size": [config.width, config.height],
        "counts": {split.name: len(split.walk) for split in plan.splits},
        "route_length_m": float(route_length), "route_closed": layout.route.closed,
        "world_up_axis": "z", "units": "metres",
        "pose_convention": "T_world_cam of the optical frame (x right, y down, z forward)",
        "intrinsics": {"fx": camera.fx, "fy": camera.fy, "cx": camera.cx, "cy": camera.cy},
        "outdoor": layout.outdoor, "lateral_limit_m": layout.lateral_limit,
        "test_only_occluders": [[round(float(v), 3) for v in c] for c in layout.test_occluders],
        "splits": splits, "render_seconds": round(seconds, 2),
    }


def make_scene(config: SceneConfig, log: Callable[[str], None] | None = None) -> Path:
    """Render the dataset described by ``config`` and return its folder."""
    log = log or (lambda _msg: None)
    _validate(config, get_preset(config.preset))
    root = Path(config.out_dir).resolve()   # the split files list images relative to it
    ctx = create_context()  # fail fast, before any work, when EGL is missing
    _prepare_output(root)
    start = time.perf_counter()
    plan = plan_scene(config)
    renderer = SceneRenderer(plan.camera, plan.textures, plan.layout.meshes, samples=config.samples, ctx=ctx)
    try:
        frames = {}
        with PngWriter() as writer:
            for split in plan.splits:
                log(f"rendering {len(split.walk)} {split.name} frames")
                frames[split.name] = _render_split(renderer, split, root, writer)
    finally:
        renderer.release()
    seconds = time.perf_counter() - start
    for split in plan.splits:
        write_cambridge_split(root, split.name, frames[split.name])
        write_tum(root / f"{split.name}_gt.tum", split.walk.timestamps, split.walk.positions, split.walk.quats_wxyz)
    write_camera_yaml(root / "camera.yaml", plan.camera, f"synthetic_{config.preset}")
    write_scene_json(root / "scene.json", _scene_info(plan, seconds))
    total = sum(len(split.walk) for split in plan.splits)
    log(f"wrote {total} frames ({', '.join(f'{len(s.walk)} {s.name}' for s in plan.splits)}) to {root} "
        f"in {seconds:.1f} s ({total / seconds:.1f} frames/s)")
    return root
