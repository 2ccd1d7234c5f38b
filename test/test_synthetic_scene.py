"""Synthetic scene generator: readable output, exact poses, distinct walks, determinism, no-EGL error."""
from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from anchor_reloc_ros.core.errors import ConfigError
from anchor_reloc_ros.core.geometry import quat_angle_deg, transform_from_pq
from anchor_reloc_ros.data.cambridge import read_cambridge
from anchor_reloc_ros.data.synthetic import generate, renderer as renderer_mod
from anchor_reloc_ros.data.synthetic.generate import SceneConfig, make_scene, plan_scene, render_frame
from anchor_reloc_ros.data.synthetic.layout import STATIC, TEST_ONLY
from anchor_reloc_ros.data.synthetic.meshes import MeshBuilder
from anchor_reloc_ros.data.synthetic.presets import PRESETS
from anchor_reloc_ros.data.synthetic.renderer import RenderBackendError, SceneRenderer, create_context
from anchor_reloc_ros.data.tum import read_tum
from anchor_reloc_ros.tools import cli, make_scene as make_scene_tool


def _egl_missing_reason() -> str | None:
    try:
        create_context().release()
    except RenderBackendError as exc:
        return str(exc)
    return None


_NO_EGL = _egl_missing_reason()
needs_egl = pytest.mark.skipif(_NO_EGL is not None, reason=f"no headless OpenGL here: {_NO_EGL}")

SMALL = dict(preset="street", seed=3, width=160, height=120, train_frames=20, test_frames=10, val_frames=6)


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if _NO_EGL is not None:
        pytest.skip(f"no headless OpenGL here: {_NO_EGL}")
    return make_scene(SceneConfig(out_dir=tmp_path_factory.mktemp("street") / "scene", **SMALL))


@pytest.fixture(scope="module")
def small_plan(small_scene: Path) -> generate.ScenePlan:
    return plan_scene(SceneConfig(out_dir=small_scene, **SMALL))


def _read_camera_yaml(path: Path) -> tuple[int, int, np.ndarray]:
    text = path.read_text()
    width = int(re.search(r"^image_width: (\d+)", text, re.M).group(1))
    height = int(re.search(r"^image_height: (\d+)", text, re.M).group(1))
    data = re.search(r"camera_matrix:\n  rows: 3\n  cols: 3\n  data: \[([^\]]*)\]", text).group(1)
    return width, height, np.array([float(v) for v in data.split(",")]).reshape(3, 3)


@needs_egl
def test_small_scene_is_readable(small_scene: Path) -> None:
    info = json.loads((small_scene / "scene.json").read_text())
    assert info["counts"] == {"train": 20, "test": 10, "val": 6}
    assert info["world_up_axis"] == "z" and info["preset"] == "street" and info["size"] == [160, 120]
    assert 150.0 <= info["route_length_m"] <= 300.0
    width, height, K = _read_camera_yaml(small_scene / "camera.yaml")
    assert (width, height) == (160, 120) and K[0, 0] > 0 and K[2, 2] == 1.0
    for split, n in (("train", 20), ("test", 10), ("val", 6)):
        dataset = read_cambridge(small_scene, split)
        assert len(dataset) == n
        image = cv2.imread(str(dataset.frames[0].image_path))
        assert image.shape == (120, 160, 3) and image.std() > 20.0  # a real picture, not a flat fill
        stamps, positions, quats = read_tum(small_scene / f"{split}_gt.tum")
        np.testing.assert_allclose(positions, dataset.positions(), atol=1e-9)
        assert np.all(quat_angle_deg(quats, dataset.quaternions()) < 1e-6)
        ticks = stamps * 10.0
        np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)  # a 10 Hz clock
        speed = np.linalg.norm(positions[-1] - positions[0]) / (stamps[-1] - stamps[0])
        assert 0.7 < speed < 2.5  # walking pace
        assert np.all(np.abs(positions[:, 2] - 1.6) < 0.35)  # eye height, z up


@needs_egl
def test_stored_poses_and_intrinsics_reproduce_the_rendered_camera(small_scene: Path, small_plan) -> None:
    """A bright marker placed via the STORED pose and camera.yaml lands on the predicted pixel,
    and re-rendering the scene at the pose the generator used reproduces the stored image."""
    plan = small_plan
    _, _, K = _read_camera_yaml(small_scene / "camera.yaml")
    rng = np.random.default_rng(0)
    for split in plan.splits:
        dataset = read_cambridge(small_scene, split.name)
        marker_points = []
        for i in (0, len(dataset) // 2, len(dataset) - 1):
            frame = dataset.frames[i]
            T_world_cam = transform_from_pq(frame.position, frame.quat_wxyz)
            uv = rng.uniform([20.0, 15.0], [140.0, 105.0])
            depth = rng.uniform(3.0, 8.0)
            p_cam = depth * np.linalg.solve(K, np.array([*uv, 1.0]))
            marker_points.append((i, uv, (T_world_cam @ np.append(p_cam, 1.0))[:3], depth))
        for i, uv, p_world, depth in marker_points:
            mb = MeshBuilder()
            half = 0.012 * depth  # about 1.5 px wide
            mb.add_box(p_world[:2], p_world[2] - half, (2 * half, 2 * half, 2 * half), 0.0,
                       plan.textures.first("white"), tint=(40.0, 0.0, 0.0), emissive=1.0)
            r = SceneRenderer(plan.camera, plan.textures, {"marker": mb.build()}, samples=4)
            try:
                image = r.render(split.walk.T_world_cam(i), split.lighting, ("marker",))
            finally:
                r.release()
            red = image[..., 0].astype(float) - image[..., 1]
            weights = np.clip(red - 60.0, 0.0, None)
            assert weights.sum() > 0, f"marker not visible in {split.name} frame {i}"
            rows, cols = np.indices(weights.shape)
            centroid = np.array([(cols * weights).sum(), (rows * weights).sum()]) / weights.sum()
            assert np.linalg.norm(centroid - uv) < 1.5, (split.name, i, centroid, uv)
    r = SceneRenderer(plan.camera, plan.textures, plan.layout.meshes)
    try:
        for split in plan.splits:
            stored = cv2.imread(str(small_scene / generate.frame_name(split.name, 1)))[..., ::-1]
            np.testing.assert_array_equal(render_frame(r, split, 1), stored)
    finally:
        r.release()


def test_train_and_test_walks_differ(tmp_path: Path) -> None:
    plan = plan_scene(SceneConfig(preset="street", out_dir=tmp_path, seed=5))  # default counts, no rendering
    train, test, _val = plan.splits
    assert (len(train.walk), len(test.walk)) == (800, 300) and test.groups == (STATIC, TEST_ONLY)
    assert train.groups == (STATIC,)
    lat_train, lat_test = np.abs(train.walk.lateral), np.abs(test.walk.lateral)
    assert lat_test.max() <= 2.0 + 1e-9 and lat_test.max() > 1.0
    assert lat_test.mean() > lat_train.mean() + 0.3
    assert np.ptp(test.walk.heights) > 2.0 * np.ptp(train.walk.heights)
    sun_angle = np.degrees(np.arccos(np.clip(np.dot(train.lighting.sun_dir, test.lighting.sun_dir), -1, 1)))
    assert sun_angle > 30.0
    assert abs(np.log(test.lighting.exposure / train.lighting.exposure)) > 0.05
    # Not a copy: test cameras sit away from every training camera.
    gaps = np.linalg.norm(test.walk.positions[:, None] - train.walk.positions[None], axis=2).min(axis=1)
    assert np.median(gaps) > 0.3
    assert len(plan.layout.test_occluders) >= 10 and len(plan.layout.meshes[TEST_ONLY]) > 0
    # Test-only occluders keep clear of the test walker's corridor.
    near = np.linalg.norm(plan.layout.test_occluders[None, :, :2] - test.walk.positions[:, None, :2], axis=2)
    assert near.min() > 0.5


def test_val_walk_is_shifted_like_test_and_leaves_train_and_test_unchanged(tmp_path: Path) -> None:
    plan = plan_scene(SceneConfig(preset="street", out_dir=tmp_path, seed=5))
    train, test, val = plan.splits
    assert val.name == "val" and len(val.walk) == 150 and val.groups == (STATIC,)  # no test-only occluders
    assert np.abs(val.walk.lateral).mean() > np.abs(train.walk.lateral).mean() + 0.3
    for other in (train, test):  # its own sun: neither the training nor the test light
        angle = np.degrees(np.arccos(np.clip(np.dot(val.lighting.sun_dir, other.lighting.sun_dir), -1, 1)))
        assert angle > 5.0
    assert val.walk.timestamps[0] > test.walk.timestamps[-1]
    without = plan_scene(SceneConfig(preset="street", out_dir=tmp_path, seed=5, val_frames=0))
    assert [s.name for s in without.splits] == ["train", "test"]
    for a, b in zip(without.splits, (train, test)):  # the val walk draws from its own generator
        np.testing.assert_array_equal(a.walk.positions, b.walk.positions)
        np.testing.assert_array_equal(a.exposures, b.exposures)
        assert a.lighting.sun_dir == b.lighting.sun_dir and a.lighting.exposure == b.lighting.exposure
    with pytest.raises(ConfigError, match="val frames"):
        plan_scene(SceneConfig(preset="street", out_dir=tmp_path, val_frames=1))


def test_a_walk_seed_draws_other_held_out_walks_through_the_same_scene(tmp_path: Path) -> None:
    base = plan_scene(SceneConfig(preset="street", out_dir=tmp_path, seed=5))
    other = plan_scene(SceneConfig(preset="street", out_dir=tmp_path, seed=5, walk_seed=1))
    again = plan_scene(SceneConfig(preset="street", out_dir=tmp_path, seed=5, walk_seed=1))
    np.testing.assert_array_equal(other.layout.test_occluders, base.layout.test_occluders)   # the same scene
    (b_train, b_test, b_val), (o_train, o_test, o_val) = base.splits, other.splits
    np.testing.assert_array_equal(o_train.walk.positions, b_train.walk.positions)          # the same training
    assert o_train.lighting == b_train.lighting
    for b, o in ((b_test, o_test), (b_val, o_val)):
        assert len(o.walk) == len(b.walk) and o.groups == b.groups
        assert np.abs(o.walk.positions - b.walk.positions).max() > 0.5                   # another path ...
        assert o.lighting.sun_dir != b.lighting.sun_dir                                  # ... in another light
    for a, b in zip(again.splits, other.splits):                                          # deterministic
        np.testing.assert_array_equal(a.walk.positions, b.walk.positions)
    assert plan_scene(SceneConfig(preset="street", out_dir=tmp_path, seed=5, walk_seed=2)).splits[1].lighting \
        != o_test.lighting
    for bad in (dict(seed=-1), dict(walk_seed=-3)):     # numpy's seeds are non-negative: a clear error
        with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
            plan_scene(SceneConfig(preset="street", out_dir=tmp_path, **bad))


@needs_egl
def test_test_only_occluders_show_up_in_test_frames(small_plan: generate.ScenePlan) -> None:
    plan = small_plan
    test = plan.splits[1]
    r = SceneRenderer(plan.camera, plan.textures, plan.layout.meshes, samples=0)
    try:
        changed = [np.any(r.render(test.walk.T_world_cam(i), test.lighting, (STATIC,))
                          != r.render(test.walk.T_world_cam(i), test.lighting, (STATIC, TEST_ONLY)))
                   for i in range(len(test.walk))]
    finally:
        r.release()
    assert sum(changed) >= len(changed) // 2


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "scene.json"}


@needs_egl
def test_same_seed_same_bytes_other_seed_other_images(small_scene: Path, tmp_path: Path) -> None:
    again = make_scene(SceneConfig(out_dir=tmp_path / "again", **SMALL))
    assert _all_bytes(again) == _all_bytes(small_scene)
    other = make_scene(SceneConfig(out_dir=tmp_path / "other", **{**SMALL, "seed": 4, "train_frames": 2,
                                                                   "test_frames": 2}))
    for name in ("seq-train/frame00000.png", "seq-test/frame00001.png"):
        a = cv2.imread(str(other / name)).astype(float)
        b = cv2.imread(str(small_scene / name)).astype(float)
        assert np.abs(a - b).mean() > 10.0


@needs_egl
@pytest.mark.parametrize("preset", ["room", "corridor"])
def test_indoor_presets_render(preset: str, tmp_path: Path) -> None:
    root = make_scene(SceneConfig(preset=preset, out_dir=tmp_path, width=96, height=72, train_frames=3,
                                  test_frames=2))
    dataset = read_cambridge(root, "test")
    assert len(dataset) == 2
    assert cv2.imread(str(dataset.frames[1].image_path)).std() > 10.0


@needs_egl
def test_a_relative_output_folder_gives_a_readable_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = make_scene(SceneConfig(preset="street", out_dir=Path("out") / "scene", width=32, height=24, train_frames=2, test_frames=2,
                                  val_frames=0))
    dataset = read_cambridge(Path("out") / "scene", "test")     # image paths relative to the scene folder
    assert root == tmp_path / "out" / "scene" and all(f.image_path.is_file() for f in dataset.frames)


def test_no_egl_gives_one_clear_line_and_exit_code_2(monkeypatch, capsys, tmp_path: Path) -> None:
    import moderngl

    def fail(**_kwargs):
        raise Exception("requested device index 0, but found 0 devices")  # what glcontext raises

    monkeypatch.setattr(moderngl, "create_standalone_context", fail)
    code = cli.main(["make-scene", "--out", str(tmp_path / "x"), "--train-frames", "2", "--test-frames", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "EGL" in err and "libegl1" in err and "libgl1-mesa-dri" in err
    assert not (tmp_path / "x").exists()

    monkeypatch.setattr(renderer_mod.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(RenderBackendError, match=r"libEGL\.so\.1 \(Debian package libegl1\)"):
        create_context()


def test_cli_presets_and_size_parsing() -> None:
    assert set(make_scene_tool.PRESET_NAMES) == set(PRESETS)
    assert make_scene_tool.parse_size("320x240") == (320, 240)
    with pytest.raises(Exception, match="320x240"):
        make_scene_tool.parse_size("320")
