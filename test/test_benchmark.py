"""`anchor-reloc benchmark` end to end on a small dataset (tiny backbone, few epochs)."""
import json
from pathlib import Path

import numpy as np
import pytest

from anchor_reloc_ros.tools.cli import main


def test_benchmark_writes_table_json_and_spacing_plot(strip_dataset: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench"
    code = main(["benchmark", "--data", str(strip_dataset), "--out", str(out), "--seeds", "0",
                 "--spacing", "4", "12", "--epochs", "3", "--backbone", "tiny_cnn", "--no-pretrained",
                 "--image-size", "64x48", "--anchor-every", "6", "--device", "cpu"])
    assert code == 0
    report = json.loads((out / "benchmark.json").read_text())
    methods = [r["method"] for r in report["rows"]]
    assert len(methods) == 7 and "anchor + CE, cluster" in methods and any("PoseNet" in m for m in methods) and any("retrieval" in m for m in methods)
    # the recipe's control: a minimal full-batch fit on the same cached features
    control = report["rows"][6]
    assert control["method"] == "minimal frozen-feature fit (control)"
    assert np.isfinite(control["median_translation_m"][0])
    assert report["train_over_minimal_fit"] == pytest.approx(
        report["rows"][1]["median_translation_m"][0] / control["median_translation_m"][0])
    posenet = report["rows"][4]["median_translation_m"][0]
    assert report["anchor_over_posenet"] == pytest.approx(report["rows"][0]["median_translation_m"][0] / posenet)
    retrieval = report["rows"][5]
    assert retrieval["map_memory_bytes"] > 0 and "48 images" in retrieval["map_memory_note"]
    assert [p["k"] for p in report["spacing"]] == [4, 12]
    assert report["spacing"][0]["anchors"] > report["spacing"][1]["anchors"]
    assert (out / "anchor_spacing.png").stat().st_size > 1000
    table = (out / "benchmark.md").read_text()
    # one seed has no spread: the sample std is nan and the table shows the mean alone
    assert np.isnan(report["rows"][0]["median_translation_m"][1]) and "nan" not in table.split("Covariance")[0]
    assert "ratio to PoseNet" in table and "Machine:" in table and "over the minimal frozen-feature fit" in table
    # covariance honesty per method: anchor rows have a ranking, retrieval's constant covariance none
    assert "Covariance honesty on the test split" in table and "| inside 99 % |" in table
    assert 0.0 <= report["rows"][2]["covariance"]["coverage_99"] <= 1.0
    assert np.isnan(retrieval["covariance"]["spearman_sigma_error"])
    assert retrieval["method"] in table.split("Covariance honesty")[1]
    assert "ratio to PoseNet" in capsys.readouterr().out
    # every evaluated method left its full report behind
    assert (out / "eval" / "retrieval" / "frames.csv").exists()
