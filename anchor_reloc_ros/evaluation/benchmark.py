"""Side-by-side benchmark: anchor (paper), anchor + fusion, PoseNet, retrieval.

Every learned method uses the same backbone, input size, augmentation, epochs,
optimiser and seeds; they differ only in the head (and, for fusion, the decoding).
The anchor-spacing study (the paper's Figure 3) retrains the anchor head for several
k. All numbers come from evaluating through the Localizer on the test split.
"""
from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from ..benchmarks.machine import describe_machine, machine_markdown
from ..core.checkpoint import read_metadata
from ..core.localizer import Localizer
from ..data.loader import load_dataset
from ..training.config import TrainConfig
from ..training.feature_cache import compute_features
from ..training.image_cache import load_images, read_rgb
from ..training.trainer import train
from .minimal_fit import minimal_fit
from .retrieval import RetrievalLocalizer, build_index
from .run_comparison import mean_and_sample_std
from .run_eval import EvalConfig, evaluate
from ..core.uncertainty import COVERAGE_LEVELS

# Covariance-honesty metrics of each method's test summary, averaged over seeds.
HONESTY_KEYS = (*(f"coverage_{round(100 * lv)}" for lv in COVERAGE_LEVELS), "mean_nees", "spearman_sigma_error")

BUDGETS: dict[str, dict] = {
    # cached frozen features: minutes on a 2-core CPU
    "quick": {"freeze_backbone": True, "epochs": 150, "seeds": (0, 1, 2), "spacing": (2, 5, 10, 20, 40)},
    # fine-tune the whole network: meant for a GPU
    "full": {"freeze_backbone": False, "epochs": 60, "seeds": (0, 1, 2), "spacing": (2, 5, 10, 20, 40)},
}


@dataclass
class BenchmarkConfig:
    data: Path
    out: Path
    budget: str = "quick"
    base: TrainConfig | None = None       # shared training settings (data/out/head overridden)
    seeds: tuple[int, ...] | None = None
    spacing: tuple[int, ...] | None = None
    epochs: int | None = None             # None: the budget's default
    ours_alpha1: float = 1.0              # CE weight of "ours" (chosen on validation, never test)
    latency_frames: int = 30


@dataclass(frozen=True)
class SeedScore:
    """One evaluated run of a method: its test summary's headline numbers."""

    median_translation_m: float
    median_rotation_deg: float
    acc_05: float                   # acc_0.5m_5deg
    acc_2: float                    # acc_2m_5deg
    latency_ms: float
    honesty: dict[str, float]       # HONESTY_KEYS

    @classmethod
    def from_summary(cls, summary: dict[str, float], latency_ms: float) -> "SeedScore":
        return cls(summary["median_translation_m"], summary["median_rotation_deg"], summary["acc_0.5m_5deg"],
                   summary["acc_2m_5deg"], latency_ms,
                   {k: float(summary.get(k, float("nan"))) for k in HONESTY_KEYS})


@dataclass
class MethodResult:
    name: str
    scores: list[SeedScore] = field(default_factory=list)
    model_mb: float = 0.0
    map_memory_bytes: int = 0
    map_memory_note: str = ""

    def add(self, summary: dict[str, float], latency_ms: float) -> None:
        self.scores.append(SeedScore.from_summary(summary, latency_ms))

    def _values(self, name: str) -> list[float]:
        return [getattr(score, name) for score in self.scores]

    @property
    def mean_translation_m(self) -> float:
        """Mean over seeds of the median translation error."""
        return float(np.mean(self._values("median_translation_m")))

    def row(self) -> dict:
        def ms(name: str) -> tuple[float, float]:   # mean and sample std over seeds, as `compare`
            return mean_and_sample_std(self._values(name))

        return {"method": self.name, "median_translation_m": ms("median_translation_m"),
                "median_rotation_deg": ms("median_rotation_deg"), "acc_0.5m_5deg": ms("acc_05"),
                "acc_2m_5deg": ms("acc_2"), "latency_ms": float(np.median(self._values("latency_ms"))),
                "model_mb": self.model_mb, "map_memory_bytes": self.map_memory_bytes,
                "map_memory_note": self.map_memory_note, "seeds": len(self.scores),
                "per_seed_median_translation_m": self._values("median_translation_m"),
                "covariance": {k: _mean_or_nan([s.honesty[k] for s in self.scores]) for k in HONESTY_KEYS}}


CE_DECODE = "argmax"   # the "anchor + CE" row's decode, and the minimal control's


@dataclass
class Methods:
    """The compared methods by role, in the report's order."""

    paper: MethodResult = field(default_factory=lambda: MethodResult("anchor (paper: a1=0, argmax)"))
    ce: MethodResult = field(default_factory=lambda: MethodResult("anchor + CE, argmax"))
    ours: MethodResult = field(default_factory=lambda: MethodResult("anchor + CE + top-k fusion (ours)"))
    cluster: MethodResult = field(default_factory=lambda: MethodResult("anchor + CE, cluster"))
    posenet: MethodResult = field(default_factory=lambda: MethodResult("PoseNet head (direct regression)"))
    retrieval: MethodResult = field(default_factory=lambda: MethodResult("retrieval (nearest neighbour)"))
    minimal: MethodResult = field(default_factory=lambda: MethodResult("minimal frozen-feature fit (control)"))

    def evaluated(self) -> list[MethodResult]:
        return [m for m in (getattr(self, f.name) for f in fields(self)) if m.scores]


@dataclass(frozen=True)
class SpacingPoint:
    """One anchor spacing k of the spacing study (seed 0, ours)."""

    k: int
    anchors: int
    val_median_translation_m: float | None
    test_median_translation_m: float
    test_acc_2m_5deg: float
    test_acc_05m_5deg: float

    def to_dict(self) -> dict[str, float | int | None]:
        d = asdict(self)
        d["test_acc_0.5m_5deg"] = d.pop("test_acc_05m_5deg")
        return d


def _mean_or_nan(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _latency_ms(localizer, images: list[np.ndarray], repeats: int) -> float:
    """Median batch-1 time of the full image -> pose path."""
    for im in images[:3]:
        localizer.localize(im)
    times = []
    for im in images[:repeats]:
        t0 = time.perf_counter()
        localizer.localize(im)
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(statistics.median(times))


def _anchor_growth_bytes(ckpt: Path) -> int:
    """Parameters + anchor table that scale with the number of anchors."""
    meta = read_metadata(ckpt)
    n = int(meta["model"]["num_anchors"])
    hidden = int(meta["model"]["head_hidden"]) or 1280
    per_anchor = (hidden + 1) * (1 + int(meta["model"]["anchor_dims"])) + 3
    return int(n * per_anchor * 4)


class Benchmark:
    def __init__(self, config: BenchmarkConfig, log=print) -> None:
        self.config = config
        self.log = log
        budget = BUDGETS[config.budget]
        base = config.base or TrainConfig(config.data, config.out)
        self.base = replace(base, data=Path(config.data), freeze_backbone=budget["freeze_backbone"],
                            epochs=config.epochs or budget["epochs"])
        self.seeds = config.seeds or budget["seeds"]
        self.spacing = config.spacing or budget["spacing"]
        self.out = Path(config.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.cache = self.out / "feature_cache.safetensors" if self.base.freeze_backbone else None
        test = load_dataset(config.data, "test")
        self.test_images = [read_rgb(str(f.image_path)) for f in test.frames[: config.latency_frames]]

    def _train(self, name: str, **overrides) -> Path:
        # every row decodes with one view, as named: no decode choice on the val walk
        cfg = replace(self.base, out=self.out / "runs" / name, feature_cache=self.cache, choose_decode=False,
                      **overrides)
        done = cfg.out / "best.safetensors"
        if done.exists() and (cfg.out / "metrics.csv").exists():
            rows = (cfg.out / "metrics.csv").read_text().strip().splitlines()
            if len(rows) - 1 >= cfg.epochs:
                self.log(f"[benchmark] reusing finished run {cfg.out}")
                return done
            cfg = replace(cfg, resume=True)
        t0 = time.perf_counter()
        best = train(cfg, progress=False)
        self.log(f"[benchmark] trained {name} in {time.perf_counter() - t0:.0f} s")
        return best

    def _eval(self, name: str, localizer) -> dict[str, float]:
        cfg = EvalConfig(Path("-"), Path(self.config.data), self.out / "eval" / name, "test", plots=True)
        result, _ = evaluate(cfg, localizer=localizer)
        return result.summary

    def run(self) -> dict:
        t_start = time.perf_counter()
        m = Methods()
        device = self.base.device
        a1 = self.config.ours_alpha1
        for seed in self.seeds:
            runs = ((f"anchor_paper_k{self.base.anchor_every}_s{seed}", 0.0, (("argmax", m.paper),)),
                    (f"anchor_ce_k{self.base.anchor_every}_s{seed}", a1, ((CE_DECODE, m.ce), ("fusion", m.ours),
                                                                            ("cluster", m.cluster))))
            for run_name, alpha1, decodes in runs:
                ckpt = self._train(run_name, head="anchor", seed=seed, alpha1=alpha1)
                for decode, result in decodes:
                    loc = Localizer.from_checkpoint(ckpt, device=device, decode=decode, views=1)
                    result.add(self._eval(f"{run_name}_{decode}", loc),
                               _latency_ms(loc, self.test_images, self.config.latency_frames))
                    result.model_mb = ckpt.stat().st_size / 1e6
                    result.map_memory_bytes = _anchor_growth_bytes(ckpt)
                    result.map_memory_note = "grows with anchors (route length / k), not with images"
            ckpt = self._train(f"posenet_s{seed}", head="posenet", seed=seed)
            loc = Localizer.from_checkpoint(ckpt, device=device, views=1)
            m.posenet.add(self._eval(f"posenet_s{seed}", loc), _latency_ms(loc, self.test_images,
                                                                            self.config.latency_frames))
            m.posenet.model_mb = ckpt.stat().st_size / 1e6
            m.posenet.map_memory_note = "constant"
            if self.base.freeze_backbone:
                self._minimal_fit(m.minimal, seed)
        self._retrieval(m.retrieval, device)
        spacing = self._spacing_study()
        posenet = m.posenet.mean_translation_m
        report = {"data": str(self.config.data), "budget": self.config.budget, "seeds": list(self.seeds),
                  "training": self.base.to_dict(), "rows": [r.row() for r in m.evaluated()],
                  "anchor_over_posenet": m.paper.mean_translation_m / posenet,
                  "ours_over_posenet": m.ours.mean_translation_m / posenet, "ours_alpha1": a1,
                  "train_over_minimal_fit": (m.ce.mean_translation_m / m.minimal.mean_translation_m
                                             if m.minimal.scores else None),
                  "spacing": [p.to_dict() for p in spacing], "machine": describe_machine(torch.get_num_threads()),
                  "seconds": time.perf_counter() - t_start}
        (self.out / "benchmark.json").write_text(json.dumps(report, indent=2) + "\n")
        (self.out / "benchmark.md").write_text(markdown_table(report))
        plot_spacing(spacing, self.out / "anchor_spacing.png")
        return report

    def _minimal_fit(self, result: MethodResult, seed: int) -> None:
        """The recipe's control: full-batch heads on the same cached features (minimal_fit)."""
        t0 = time.perf_counter()
        contents = minimal_fit(replace(self.base, out=self.out / "runs" / f"minimal_fit_s{seed}",
                                       feature_cache=self.cache, head="anchor", seed=seed))
        self.log(f"[benchmark] fitted the minimal control in {time.perf_counter() - t0:.0f} s")
        loc = Localizer(contents, device=self.base.device, decode=CE_DECODE, views=1)   # as the row it is compared with
        result.add(self._eval(f"minimal_fit_s{seed}", loc), _latency_ms(loc, self.test_images,
                                                                         self.config.latency_frames))
        result.model_mb = sum(t.numel() * 4 for t in contents.model.state_dict().values()) / 1e6
        result.map_memory_note = "same heads as anchor"

    def _retrieval(self, result: MethodResult, device: str) -> None:
        from ..core.device import resolve_device
        from ..core.model import ModelConfig, RelocNet

        dev = resolve_device(device)
        model = RelocNet(ModelConfig(self.base.backbone, "posenet"), pretrained=self.base.pretrained).to(dev)
        train_set = load_dataset(self.config.data, "train")
        images = load_images(train_set.frames, self.base.image_size)
        feats = compute_features(model, images, dev)
        index = build_index(feats, train_set.positions(), train_set.quaternions())
        loc = RetrievalLocalizer(model, index, self.base.image_size, dev)
        result.add(self._eval("retrieval", loc), _latency_ms(loc, self.test_images, self.config.latency_frames))
        result.model_mb = sum(p.numel() * 4 for p in model.backbone.parameters()) / 1e6 + index.memory_bytes / 1e6
        result.map_memory_bytes = index.memory_bytes
        result.map_memory_note = f"grows with every mapped image ({len(train_set)} images)"

    def _spacing_study(self) -> list[SpacingPoint]:
        seed = self.seeds[0]
        points = []
        for k in self.spacing:
            ckpt = self._train(f"anchor_ce_k{k}_s{seed}", head="anchor", anchor_every=k, seed=seed,
                               alpha1=self.config.ours_alpha1)
            meta = read_metadata(ckpt)
            loc = Localizer.from_checkpoint(ckpt, device=self.base.device, decode="fusion", views=1)
            s = self._eval(f"spacing_k{k}", loc)
            points.append(SpacingPoint(k, meta["model"]["num_anchors"],
                                       meta["metrics"].get("val_argmax", {}).get("median_translation_m"),
                                       s["median_translation_m"], s["acc_2m_5deg"], s["acc_0.5m_5deg"]))
        return points


def markdown_table(report: dict) -> str:
    lines = [f"Benchmark on `{report['data']}` (budget {report['budget']}, seeds {report['seeds']}, "
             f"backbone {report['training']['backbone']}, input {report['training']['image_size']}, "
             f"{'frozen backbone' if report['training']['freeze_backbone'] else 'fine-tuned'}, "
             f"{report['training']['epochs']} epochs)", "",
             "| method | median transl. (m) | median rot. (deg) | acc <0.5 m,5° | acc <2 m,5° | model (MB) "
             "| map memory | CPU latency (ms) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        t, rot = r["median_translation_m"], r["median_rotation_deg"]
        mem = f"{r['map_memory_bytes'] / 1e6:.2f} MB ({r['map_memory_note']})" if r["map_memory_bytes"] else r["map_memory_note"]
        lines.append(f"| {r['method']} | {_mean_pm(t)} | {_mean_pm(rot)} | "
                     f"{100 * r['acc_0.5m_5deg'][0]:.1f}% | {100 * r['acc_2m_5deg'][0]:.1f}% | {r['model_mb']:.1f} | "
                     f"{mem} | {r['latency_ms']:.1f} |")
    lines += honesty_table(report["rows"])
    lines += ["", f"Median-translation ratio to PoseNet: paper anchor {report['anchor_over_posenet']:.2f}, "
              f"ours {report['ours_over_posenet']:.2f} (ours = CE weight a1={report['ours_alpha1']:g} + "
              "top-k fusion with a validation-chosen temperature)", "",
              *([f"`train` (anchor + CE, argmax) over the minimal frozen-feature fit: "
                 f"{report['train_over_minimal_fit']:.2f} (above 1: the recipe lost to its control)", ""]
                if report.get("train_over_minimal_fit") else []),
              "Anchor spacing (ours, seed 0): k, anchors, val median, test median, test acc <2 m,5°", "",
              "| k | anchors | val median (m) | test median (m) | test acc <2 m,5° |", "|---|---|---|---|---|"]
    for p in report["spacing"]:
        v = p["val_median_translation_m"]
        lines.append(f"| {p['k']} | {p['anchors']} | {v if v is None else f'{v:.2f}'} | "
                     f"{p['test_median_translation_m']:.2f} | {100 * p['test_acc_2m_5deg']:.1f}% |")
    lines += ["", "Machine:", machine_markdown(report["machine"]), f"- total time: {report['seconds'] / 60:.1f} min", ""]
    return "\n".join(lines)


def honesty_table(rows: list[dict]) -> list[str]:
    """Markdown lines: is each method's published covariance honest on the test split?"""
    def cell(row: dict, key: str, percent: bool) -> str:
        v = row.get("covariance", {}).get(key, float("nan"))
        return "n/a" if not np.isfinite(v) else (f"{100 * v:.1f}%" if percent else f"{v:.2f}")

    out = ["", "Covariance honesty on the test split (position, mean over seeds; honest = 68 / 95 / 99 %, "
           "NEES 3, Spearman high):", "",
           "| method | inside 68 % | inside 95 % | inside 99 % | mean NEES | Spearman(sigma, error) |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['method']} | " + " | ".join(cell(r, k, k.startswith("coverage")) for k in HONESTY_KEYS)
                   + " |")
    return out


def plot_spacing(points: list[SpacingPoint], path: Path) -> Path:
    from .plots import _pyplot

    plt = _pyplot()
    fig, ax1 = plt.subplots(figsize=(6, 4))
    ks = [p.k for p in points]
    ax1.plot(ks, [p.test_median_translation_m for p in points], "o-", color="tab:blue", label="test median (m)")
    vals = [p.val_median_translation_m for p in points]
    if all(v is not None for v in vals):
        ax1.plot(ks, vals, "s--", color="tab:cyan", label="val median (m)")
    ax1.set_xlabel("frames between anchors (k)")
    ax1.set_ylabel("median translation error (m)")
    ax2 = ax1.twinx()
    ax2.plot(ks, [100 * p.test_acc_2m_5deg for p in points], "^-", color="tab:orange", label="acc <2 m,5° (%)")
    ax2.set_ylabel("accuracy (%)")
    fig.legend(loc="upper center", fontsize=8, ncol=3)
    ax1.set_xscale("log")
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _mean_pm(mean_std: tuple[float, float]) -> str:
    """``mean ± sample std``; the mean alone for one seed."""
    mean, std = mean_std
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"
