"""The bundled weights on the bundled demo bag, offline: the gate's documented trade-off holds.

A regression test of real behaviour (about 15 s on 2 cores): the README's Gate figures
come from exactly this run. The margins allow for floating-point differences between
machines, not for a worse gate.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from anchor_reloc_ros.core.checkpoint import read_metadata
from anchor_reloc_ros.data.bundled import BUNDLED_BAG, BUNDLED_WEIGHTS, locate
from anchor_reloc_ros.tools.cli import main


def test_bundled_gate_with_odometry_corrects_or_removes_the_jumps_and_keeps_the_good_frames(tmp_path: Path) -> None:
    weights = locate(BUNDLED_WEIGHTS, "weights", "--weights")
    calibration = read_metadata(weights)["calibration"]
    assert {"right_anchor_position_cov", "agreed_position_cov"} <= set(calibration)   # the vote's covariances
    out = tmp_path / "gate"
    assert main(["bag-eval", str(locate(BUNDLED_BAG, "bag", "--bag")), "--weights", str(weights),
                 "--image-topic", "/camera/image_raw/compressed", "--gt-topic", "/ground_truth/pose",
                 "--no-plots", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["gate_odom_check"] is True
    assert s["gate_published_fraction"] >= 0.8      # most frames, many re-decoded onto the right anchor
    assert s["gate_redecoded_fraction"] >= 0.2
    assert s["gate_median_translation_m_published"] <= 0.5 * s["gate_median_translation_m_all"]
    assert s["gate_jumps_removed_fraction"] >= 0.95
    # what reaches the robot is honest and useful: inside its own ellipses, far tighter than all frames'
    assert s["gate_published_poses_coverage_99"] >= 0.95 and s["gate_published_poses_coverage_68"] >= 0.6
    assert s["gate_published_poses_median_sigma_m"] < 0.2 * s["median_sigma_m"]
    assert s["gate_all_frames_coverage_99"] >= 0.9
    rows = list(csv.DictReader((out / "gate_frames.csv").open()))
    good = [r for r in rows if float(r["translation_error_m"]) < 2.0]
    by_vote = sum(r["reason"].startswith("odom_check") for r in good)
    assert len(good) >= 60 and by_vote <= 0.1 * len(good)
    # tracking: far more frames published within 2 m than the network's own estimates are
    assert s["gate_published_within_2m_of_all"] >= 0.4 > len(good) / len(rows)
