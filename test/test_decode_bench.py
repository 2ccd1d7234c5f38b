"""Decode throughput benchmark: thread counts, one row per count, the Markdown section."""
from __future__ import annotations

from pathlib import Path

import pytest

from anchor_reloc_ros.benchmarks.decode_throughput import READ_ONLY, benchmark_decode, thread_counts
from anchor_reloc_ros.benchmarks.report import decode_section, render
from anchor_reloc_ros.data.rosbag_io import BagTopicError
from bag_helpers import SEC, T0, image_msg, random_rgb, string_msg, write_bag


def test_thread_counts_double_up_to_the_cores() -> None:
    assert thread_counts(1) == [1]
    assert thread_counts(2) == [1, 2]
    assert thread_counts(6) == [1, 2, 4, 6]
    assert thread_counts(8) == [1, 2, 4, 8]


def test_benchmark_decode_rows_and_section(tmp_path: Path) -> None:
    topics = {"/chatter": "std_msgs/msg/String", "/cam/compressed": "sensor_msgs/msg/CompressedImage"}
    msgs = [("/chatter", T0, string_msg("x"))]
    msgs += [("/cam/compressed", T0 + i * SEC, image_msg(random_rgb(i, 48, 64), T0 + i * SEC, compressed=True))
             for i in range(6)]
    bag = write_bag(tmp_path / "bag", topics, msgs)
    topic, frame_hw, rows = benchmark_decode(bag, None, (24, 32), [1, 2], rounds=1, warmup=0)
    assert topic == "/cam/compressed" and frame_hw == (48, 64)
    assert [r.threads for r in rows] == ["1", "2", READ_ONLY]
    assert all(r.frames == 6 and r.images_per_s > 0 and r.pass_p50_ms > 0 for r in rows)
    assert rows[0].speedup_vs_1 == pytest.approx(1.0)
    result = {"rows": [r.__dict__ for r in rows]}
    md = decode_section(result)
    assert md.startswith("| decode threads |") and f"| {READ_ONLY} | 6 |" in md
    with pytest.raises(BagTopicError, match="no image topic"):
        benchmark_decode(write_bag(tmp_path / "empty", {"/chatter": "std_msgs/msg/String"}, msgs[:1]),
                         None, (24, 32), [1], rounds=1, warmup=0)


def test_bench_report_has_the_decode_section_or_its_error() -> None:
    machine = {"cpu": "x", "usable_cores": 2, "logical_cores": 2, "threads": 1, "load_average_1_5_15": None,
               "os": "linux", "python": "3", "torch": "2", "torchvision": "0", "onnxruntime": "1", "gpu": None}
    base = {"quick": True, "image_size_wxh": "64x48", "machine": machine, "latency": [], "overhead": []}
    row = {"threads": "1", "frames": 3, "pass_p50_ms": 1.0, "pass_p95_ms": 1.5, "images_per_s": 3000.0,
           "speedup_vs_1": 1.0}
    md = render({**base, "decode": {"frame_wxh": "640x480", "rows": [row]}})
    assert "## Bag decode (640x480 frames) + resize to 64x48" in md
    assert "failed: no bag" in render({**base, "decode": {"error": "no bag"}})
    assert "Bag decode" not in render(base)
