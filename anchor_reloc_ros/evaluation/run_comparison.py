"""Compare groups of runs (for example one method over several seeds) from their summary.json.

``eval``, ``bag-eval`` and ``demo`` each write a ``summary.json``; a comparison of two
recipes should rest on several seeds of each, not one run. ``compare_groups`` reads the
summaries of each group and gives, per metric, the mean, the sample standard deviation
and the range over the group's runs, and each group's mean relative to the first group's.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError

SUMMARY_NAME = "summary.json"
DEFAULT_METRICS = ("median_translation_m", "median_rotation_deg", "within_2m", "spearman_sigma_error",
                   "coverage_99")
PERCENT_METRICS = ("within_", "acc_", "coverage_", "gate_published_fraction")


@dataclass(frozen=True)
class MetricStats:
    mean: float
    std: float          # sample standard deviation (ddof 1); nan for a single run
    low: float
    high: float


@dataclass(frozen=True)
class GroupStats:
    name: str
    runs: tuple[Path, ...]
    metrics: dict[str, MetricStats]   # only the metrics every run of the group reports


def summary_path(run: Path) -> Path:
    """``run`` itself when it is a file, else ``run/summary.json``."""
    return run if run.is_file() else run / SUMMARY_NAME


def load_summary(run: Path) -> dict:
    """The summary.json of ``run`` (a run folder or the file); a clear error naming the file."""
    path = summary_path(Path(run))
    if not path.is_file():
        raise ConfigError(f"summary not found: {path}")
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"not a readable JSON summary: {path} ({exc})") from exc
    if not isinstance(summary, dict):
        raise ConfigError(f"not a summary (a JSON object was expected): {path}")
    return summary


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def mean_and_sample_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; nan for a single value): the spread over
    seeds that ``compare`` and ``benchmark`` both report."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(np.std(v, ddof=1)) if len(v) > 1 else math.nan


def group_stats(name: str, runs: Sequence[Path], metrics: Sequence[str], required: bool) -> GroupStats:
    """Statistics of ``metrics`` over ``runs``. With ``required`` a metric missing from a run
    is an error naming the file; otherwise that metric is left out of the group."""
    summaries = [(Path(r), load_summary(Path(r))) for r in runs]
    stats: dict[str, MetricStats] = {}
    for metric in metrics:
        values = []
        for run, summary in summaries:
            value = _number(summary.get(metric))
            if value is None:
                if required:
                    raise ConfigError(f"{summary_path(run)} has no numeric {metric!r}")
                break
            values.append(value)
        else:
            mean, std = mean_and_sample_std(values)
            stats[metric] = MetricStats(mean, std, float(min(values)), float(max(values)))
    return GroupStats(name, tuple(p for p, _ in summaries), stats)


def compare_groups(groups: Mapping[str, Sequence[Path]], metrics: Sequence[str] = DEFAULT_METRICS,
                   required: bool = False) -> list[GroupStats]:
    """One ``GroupStats`` per group, in the order given."""
    if not groups:
        raise ConfigError("nothing to compare: give at least one group of runs")
    return [group_stats(name, runs, metrics, required) for name, runs in groups.items()]


def _cell(metric: str, s: MetricStats) -> str:
    """``mean ± std (min–max)``; percentages for shares, the value alone for one run."""
    scale, unit, digits = (100.0, " %", 1) if metric.startswith(PERCENT_METRICS) else (1.0, "", 2)
    if math.isnan(s.std):
        return f"{scale * s.mean:.{digits}f}{unit}"
    return (f"{scale * s.mean:.{digits}f}{unit} ± {scale * s.std:.{digits}f} "
            f"({scale * s.low:.{digits}f}–{scale * s.high:.{digits}f})")


def format_comparison(stats: Sequence[GroupStats], metrics: Sequence[str] = DEFAULT_METRICS) -> str:
    """A Markdown table: mean ± sample std (range) per metric, and the first metric's mean
    relative to the first group's."""
    shown = [m for m in metrics if any(m in g.metrics for g in stats)]
    ratio_metric = shown[0] if shown else None
    base = stats[0].metrics.get(ratio_metric) if stats and ratio_metric else None
    header = ["group", "runs", *shown] + ([f"{ratio_metric} / first group"] if base else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for g in stats:
        cells = [g.name, str(len(g.runs))] + [_cell(m, g.metrics[m]) if m in g.metrics else "—" for m in shown]
        if base:
            own = g.metrics.get(ratio_metric)
            cells.append(f"{own.mean / base.mean:.2f}" if own and base.mean else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_to_dict(stats: Sequence[GroupStats]) -> dict:
    return {g.name: {"runs": [str(r) for r in g.runs],
                     "metrics": {m: {"mean": s.mean, "std": s.std, "min": s.low, "max": s.high}
                                 for m, s in g.metrics.items()}} for g in stats}
