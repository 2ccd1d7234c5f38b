"""``anchor-reloc compare`` (mean ± std over seeds) and the position-only shares in summaries."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from anchor_reloc_ros.core.metrics import format_summary, summarize_errors
from anchor_reloc_ros.tools.cli import main


def test_position_only_shares_ignore_rotation_and_count_failures() -> None:
    t = np.array([0.1, 1.0, 3.0, np.inf])
    r = np.array([40.0, 1.0, 1.0, np.inf])   # a large rotation error does not matter here
    s = summarize_errors(t, r)
    assert (s["within_0.5m"], s["within_2m"], s["within_5m"]) == (0.25, 0.5, 0.75)
    assert s["acc_2m_5deg"] == 0.25
    assert "within 0.5 / 2 / 5 m (position only): 25.0 / 50.0 / 75.0 %" in format_summary(s)


def write_summary(folder: Path, **values: object) -> Path:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(values))
    return folder


def test_groups_give_mean_sample_std_range_and_ratio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = [write_summary(tmp_path / f"a{i}", median_translation_m=m, within_2m=w, weights="x")
         for i, (m, w) in enumerate([(2.0, 0.2), (4.0, 0.3), (6.0, 0.4)])]
    b = write_summary(tmp_path / "b0", median_translation_m=2.0, within_2m=0.5)
    out = tmp_path / "cmp" / "stats.json"
    assert main(["compare", "a=" + ",".join(map(str, a)), f"b={b / 'summary.json'}",
                 "--metric", "median_translation_m", "--metric", "within_2m", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| a | 3 | 4.00 ± 2.00 (2.00–6.00) | 30.0 % ± 10.0 (20.0–40.0) | 1.00 |" in printed
    assert "| b | 1 | 2.00 | 50.0 % | 0.50 |" in printed
    stats = json.loads(out.read_text())
    assert stats["a"]["metrics"]["median_translation_m"] == {"mean": 4.0, "std": 2.0, "min": 2.0, "max": 6.0}
    assert math.isnan(stats["b"]["metrics"]["within_2m"]["std"])


def test_default_metrics_keep_those_every_run_has(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r0 = write_summary(tmp_path / "r0", median_translation_m=1.0, spearman_sigma_error=0.4)
    r1 = write_summary(tmp_path / "r1", median_translation_m=3.0)
    assert main(["compare", f"g={r0},{r1}"]) == 0
    printed = capsys.readouterr().out
    assert "spearman_sigma_error" not in printed and "| g | 2 | 2.00 ± 1.41 (1.00–3.00) | 1.00 |" in printed


def test_bad_runs_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", f"g={tmp_path / 'missing'}"]) == 2
    assert f"summary not found: {tmp_path / 'missing' / 'summary.json'}" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "summary.json").write_text("{truncated")
    assert main(["compare", f"g={bad}"]) == 2
    assert f"not a readable JSON summary: {bad / 'summary.json'}" in capsys.readouterr().err
    ok = write_summary(tmp_path / "ok", median_translation_m=1.0)
    assert main(["compare", f"g={ok}", "--metric", "within_2m"]) == 2
    assert f"{ok / 'summary.json'} has no numeric 'within_2m'" in capsys.readouterr().err
    assert main(["compare", f"g={ok}", f"g={ok}"]) == 2
    assert "group 'g' given twice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(ok)])
    assert exc.value.code == 2 and "expected NAME=RUN[,RUN...]" in capsys.readouterr().err


def test_benchmark_rows_and_compare_share_the_sample_std() -> None:
    from anchor_reloc_ros.evaluation.benchmark import MethodResult
    from anchor_reloc_ros.evaluation.run_comparison import mean_and_sample_std

    assert mean_and_sample_std([2.0, 4.0, 6.0]) == (4.0, 2.0)
    assert np.isnan(mean_and_sample_std([3.0])[1])
    result = MethodResult("m")
    for median in (1.0, 3.0):
        result.add({"median_translation_m": median, "median_rotation_deg": 1.0, "acc_0.5m_5deg": 0.1,
                    "acc_2m_5deg": 0.5}, latency_ms=10.0)
    assert result.row()["median_translation_m"] == pytest.approx((2.0, 2.0 ** 0.5))   # ddof 1, not 0 (1.0)
