"""``anchor-reloc demo``: end to end through the real node on a short bag; missing-file errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchor_reloc_ros.core.errors import ConfigError
from anchor_reloc_ros.core.metrics import ACCURACY_THRESHOLDS, POSITION_THRESHOLDS_M, accuracy_key, within_key
from anchor_reloc_ros.data.bundled import BUNDLED_BAG, BUNDLED_WEIGHTS, locate
from anchor_reloc_ros.evaluation.demo import PLOTS
from anchor_reloc_ros.tools.cli import main


def expected_lines(s: dict) -> list[str]:
    """The report lines the demo must print, formatted here from summary.json."""
    lines = [f"frames: {int(s['frames'])} (failed: {int(s['failed'])})",
             f"median error: {s['median_translation_m']:.3f} m, {s['median_rotation_deg']:.2f} deg",
             f"mean error:   {s['mean_translation_m']:.3f} m, {s['mean_rotation_deg']:.2f} deg",
             f"rate: {s['input_rate_hz']:.1f} Hz in, {s['output_rate_hz']:.1f} Hz out",
             f"p50 {s['latency_p50_ms']:.1f} ms, p95 {s['latency_p95_ms']:.1f} ms",
             f"drops: {s['dropped']} of {s['published']} frames",
             f"inside own 68 / 95 / 99 % ellipse: {100 * s['coverage_68']:.1f} / {100 * s['coverage_95']:.1f} / "
             f"{100 * s['coverage_99']:.1f} %", f"mean NEES {s['mean_nees']:.2f}"]
    within = " / ".join(f"{100.0 * s[within_key(tm)]:.1f}" for tm in POSITION_THRESHOLDS_M)
    return lines + [f"accuracy (<{tm:g} m, <{rd:g} deg): {100.0 * s[accuracy_key(tm, rd)]:.1f}%"
                    for tm, rd in ACCURACY_THRESHOLDS] + [f"within 0.5 / 2 / 5 m (position only): {within} %"]


def test_demo_through_the_live_node(strip_dataset: Path, tiny_checkpoint: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rclpy", reason="the demo needs ROS 2 (scripts/setup.sh)")
    pytest.importorskip("anchor_reloc_ros.msg", reason="the package's messages are not built")
    bag = tmp_path / "bag"
    assert main(["make-bag", "--data", str(strip_dataset), "--out", str(bag), "--compressed",
                 "--rate", "10"]) == 0
    monkeypatch.chdir(tmp_path)  # the default --out is ./demo_out
    capsys.readouterr()
    # every wait in the live replay is bounded (LiveOptions timeouts)
    assert main(["demo", "--weights", str(tiny_checkpoint), "--bag", str(bag), "--rate", "2",
                 "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    out = tmp_path / "demo_out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "live" and summary["published"] == summary["frames"] == 12
    for line in expected_lines(summary):
        assert line in printed, f"{line!r} not printed:\n{printed}"
    for kind in PLOTS:
        path = out / f"{kind}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", kind
        assert f"{kind}: {Path('demo_out') / path.name}" in printed


def test_missing_weights_or_bag_named(tiny_checkpoint: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.safetensors"
    assert main(["demo", "--weights", str(missing)]) == 2
    assert f"weights file not found: {missing}" in capsys.readouterr().err
    missing_bag = tmp_path / "no_bag"
    assert main(["demo", "--weights", str(tiny_checkpoint), "--bag", str(missing_bag)]) == 2
    assert f"bag not found: {missing_bag}" in capsys.readouterr().err


def test_missing_bundled_files_named(tmp_path: Path) -> None:
    for relative in (BUNDLED_WEIGHTS, BUNDLED_BAG):
        with pytest.raises(ConfigError, match="pass --x PATH") as info:
            locate(relative, "file", "--x", roots=[tmp_path / "a", tmp_path / "b"])
        assert str(relative) in str(info.value) and str(tmp_path / "b" / relative) in str(info.value)
    (tmp_path / "b" / BUNDLED_BAG).mkdir(parents=True)
    assert locate(BUNDLED_BAG, "bag", "--bag", roots=[tmp_path / "a", tmp_path / "b"]) == tmp_path / "b" / BUNDLED_BAG
