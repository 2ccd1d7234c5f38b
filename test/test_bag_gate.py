"""bag-eval runs the node's gate offline: accuracy against the fraction of frames published."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from anchor_reloc_ros.core.odom_check import OdomCheckConfig
from anchor_reloc_ros.data.rosbag_estimates import ANCHOR_TOPIC
from anchor_reloc_ros.data.rosbag_io import BagReader
from anchor_reloc_ros.evaluation.bag_gate import read_bag_odometry
from anchor_reloc_ros.tools.cli import main


@pytest.fixture(scope="module")
def odom_bag(strip_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bag = tmp_path_factory.mktemp("gate_bag") / "bag"
    assert main(["make-bag", "--data", str(strip_dataset), "--split", "test", "--out", str(bag),
                 "--odom-drift"]) == 0
    return bag


def test_bag_odometry_and_camera_extrinsic_are_read(odom_bag: Path) -> None:
    with BagReader(odom_bag) as bag:
        odometry = read_bag_odometry(bag)
    assert odometry is not None and odometry.camera_frame == "camera_optical_frame"
    assert len(odometry.odom_base.stamps) == 12
    R = odometry.T_cam_base[:3, :3]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)


@pytest.mark.parametrize("odom", [True, False])
def test_bag_eval_reports_the_gate(odom_bag: Path, tiny_checkpoint: Path, tmp_path: Path, odom: bool,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["bag-eval", str(odom_bag), "--weights", str(tiny_checkpoint), "--image-topic", "/camera/image_raw",
            "--gt-topic", "/ground_truth/pose", "--out", str(out)] + ([] if odom else ["--no-odom-check"])
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["gate_odom_check"] is odom
    assert 0.0 <= summary["gate_published_fraction"] <= 1.0
    withheld = round((1 - summary["gate_published_fraction"]) * 12)
    assert sum(summary["gate_withheld_by_reason"].values()) == withheld
    if odom:  # nothing is published before odom_min_agreeing earlier frames agree
        assert withheld >= OdomCheckConfig().min_agreeing
    assert "gate: " in capsys.readouterr().out and (out / "accuracy_vs_published.png").stat().st_size > 0
    # the output bag's AnchorDebug carries each frame's verdict, as the node publishes it
    rows = list(csv.DictReader((out / "gate_frames.csv").open()))
    with BagReader(out / "estimates_bag") as bag:
        debug = [bag.deserialize(raw, c.msgtype) for c, _, raw in bag.messages(bag.connections(
            ANCHOR_TOPIC, ["anchor_reloc_ros/msg/AnchorDebug"], "debug"))]
    assert [(m.published, m.gate_reason, m.odom_anchor_index) for m in debug] == \
        [(r["published"] == "1", r["reason"], int(r["redecoded_anchor"])) for r in rows]
    # the vote residual: set exactly where the vote agreed (with odometry, every published frame)
    residuals = [float(r["vote_residual_m"]) for r in rows]
    np.testing.assert_allclose([m.vote_residual for m in debug], residuals, atol=1e-4)
    assert all((np.isfinite(v) and v >= 0) == (odom and r["published"] == "1") for v, r in zip(residuals, rows))
    assert sum(not m.published for m in debug) == withheld


def test_bag_eval_gate_limits_are_settable(odom_bag: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    base = ["bag-eval", str(odom_bag), "--weights", str(tiny_checkpoint), "--image-topic", "/camera/image_raw",
            "--gt-topic", "/ground_truth/pose", "--no-plots"]
    # a 1 mm position limit withholds every frame as too uncertain ...
    assert main(base + ["--out", str(tmp_path / "strict"), "--no-odom-check", "--max-ood-score", "0",
                        "--max-position-std", "0.001"]) == 0
    strict = json.loads((tmp_path / "strict" / "summary.json").read_text())
    assert strict["gate_published_fraction"] == 0.0
    assert strict["gate_withheld_by_reason"].get("uncertain") == 12
    # ... and every test off publishes every frame
    assert main(base + ["--out", str(tmp_path / "off"), "--no-odom-check", "--max-ood-score", "0",
                        "--max-position-std-factor", "0"]) == 0
    assert json.loads((tmp_path / "off" / "summary.json").read_text())["gate_published_fraction"] == 1.0
    # the odometry check's vote: with 5 others needed, frames 0-4 of 12 cannot be published
    assert main(base + ["--out", str(tmp_path / "vote"), "--max-ood-score", "0", "--max-position-std-factor", "0",
                        "--odom-min-agreeing", "5", "--odom-window-frames", "12"]) == 0
    vote = json.loads((tmp_path / "vote" / "summary.json").read_text())
    assert vote["gate_published_fraction"] <= 7 / 12
    assert vote["gate_withheld_by_reason"]["odom_check"] >= 5


def test_gate_cost_benchmark_times_both_variants(odom_bag: Path, tiny_checkpoint: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from anchor_reloc_ros.evaluation.gate_cost import main as bench

    out = tmp_path / "gate_cost.json"
    assert bench(["--weights", str(tiny_checkpoint), "--bag", str(odom_bag), "--rounds", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["frames"] == 12 and result["odometry"] is True
    assert set(result["per_frame_ms"]) == {"scene + std tests", "with the odometry vote"}
    assert all(ms > 0 for ms in result["per_frame_ms"].values())
    assert "with the odometry vote:" in capsys.readouterr().out
    assert bench(["--weights", str(tiny_checkpoint), "--bag", str(tmp_path / "missing")]) == 2
