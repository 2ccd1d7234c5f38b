"""``anchor-reloc bench --quick`` runs end to end and writes its Markdown table and JSON."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchor_reloc_ros.benchmarks.flops import limit_line
from anchor_reloc_ros.benchmarks.machine import gpu_peak_tflops
from anchor_reloc_ros.benchmarks.timing import time_interleaved
from anchor_reloc_ros.tools.cli import main as cli_main


def test_bench_quick_writes_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench"
    # tiny_cnn at 64x48 keeps the smoke test short; the default --quick backbone is mobilenet_v3_small.
    code = cli_main(["bench", "--quick", "--backbones", "tiny_cnn", "--image-size", "64x48", "--threads", "1",
                     "--out", str(out)])
    assert code == 0
    md = (out / "bench.md").read_text()
    assert md in capsys.readouterr().out
    for heading in ("## Machine", "## Model latency", "## Localizer per frame", "## Training throughput"):
        assert heading in md, heading
    assert "| tiny_cnn | torch-cpu-fp32 |" in md and "| tiny_cnn | ort-cpu-fp32 |" in md
    result = json.loads((out / "bench.json").read_text())
    assert result["machine"]["threads"] == 1 and result["image_size_wxh"] == "64x48"
    assert {r["backend"] for r in result["latency"]} >= {"torch-cpu-fp32", "ort-cpu-fp32"}
    assert all(r["batch1_p50_ms"] > 0 and r["batch32_images_per_s"] > 0 for r in result["latency"])
    assert result["overhead"][0]["ratio"]["64x48"] > 0
    assert {r["mode"] for r in result["training"]} >= {"cpu", "cpu frozen-features"}


def test_bench_rejects_unknown_backbone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "--quick", "--backbones", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown backbone" in capsys.readouterr().err


def test_limit_line_and_peaks() -> None:
    assert gpu_peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert gpu_peak_tflops("Mystery GPU") is None
    line = limit_line("x", flops=1e9, measured_ms=1.0, images=1, peak_tflops=100.0)
    assert "limit 10.0 us" in line and "100x off" in line
    assert "peak unknown" in limit_line("x", 1e9, 1.0, 1, None)


def test_timing_respects_budget() -> None:
    timing = time_interleaved({"a": lambda: None, "b": lambda: None}, iters=10**9, warmup=1, budget_s=0.05)
    assert set(timing) == {"a", "b"}
    assert all(t.samples >= 3 and t.p50_ms <= t.p95_ms for t in timing.values())


def test_a_backend_that_fails_is_reported_not_fatal() -> None:
    """E.g. a CUDA graph capture failing on some GPU: the other backends are still timed."""
    from anchor_reloc_ros.benchmarks.model_latency import Case, working_cases

    def broken(batch):
        raise RuntimeError("capture failed")

    def fine(batch):
        return {"x": batch}

    skipped: list[str] = []
    cases = [Case("broken", broken, Path("w"), {"device": "cpu"}), Case("fine", fine, Path("w"), {"device": "cpu"})]
    kept = working_cases(cases, (8, 8), skipped)
    assert [c.name for c in kept] == ["fine"]
    assert skipped == ["broken: RuntimeError: capture failed"]
