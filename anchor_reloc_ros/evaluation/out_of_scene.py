"""How well the gate keeps frames that are not from the mapped scene off the robot.

``out_of_scene_report`` runs a checkpoint on frames of its own scene (a split it did not
train on) and on frames that are not: uniform noise, an all-black and an all-white frame,
and optionally the frames of another dataset. For each kind it gives the share the gate
withholds at the given limits (the node's defaults unless set; no odometry), the share
withheld as out of scene, and the AUROC of the out-of-scene score against the in-scene
frames (1.0 = every foreign frame scores above every in-scene frame).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..core.estimate import PoseEstimate
from ..core.frame_gate import pose_gate_for, reason_kind
from ..core.gate import GateLimits
from ..core.localizer import Localizer
from ..data.loader import load_dataset
from ..training.image_cache import read_rgb

NOISE_FRAMES = 40


@dataclass(frozen=True)
class KindReport:
    kind: str
    frames: int
    withheld: float               # share withheld by the gate, any reason
    withheld_out_of_scene: float  # share withheld by the out-of-scene test
    auroc: float                  # score vs the in-scene frames; nan for the in-scene kind itself


def synthetic_garbage(height: int, width: int, n_noise: int = NOISE_FRAMES, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Uniform-noise frames and one all-black and one all-white frame, HxWx3 uint8."""
    rng = np.random.default_rng(seed)
    return {"noise": [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(n_noise)],
            "black": [np.zeros((height, width, 3), np.uint8)],
            "white": [np.full((height, width, 3), 255, np.uint8)]}


def auroc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counted half (Mann-Whitney)."""
    pos, neg = np.asarray(positives, float), np.asarray(negatives, float)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def dataset_frames(data: Path, split: str) -> list[np.ndarray]:
    return [read_rgb(str(f.image_path)) for f in load_dataset(Path(data), split).frames]


def out_of_scene_report(localizer: Localizer, in_scene: list[np.ndarray], others: dict[str, list[np.ndarray]],
                        limits: GateLimits = GateLimits()) -> list[KindReport]:
    """One ``KindReport`` for the in-scene frames (first), then one per kind in ``others``."""
    gate = pose_gate_for(localizer.metadata, localizer.decoder.calibration)

    def judged(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        estimates: list[PoseEstimate] = localizer.localize_batch(frames)
        decisions = [gate.check(e, limits) for e in estimates]
        scores = np.array([e.ood_score for e in estimates], dtype=float)
        withheld = np.array([not d.passed for d in decisions])
        scene = np.array([not d.passed and reason_kind(d.reason) == "out_of_scene" for d in decisions])
        return scores, withheld, scene

    ref_scores, ref_withheld, ref_scene = judged(in_scene)
    reports = [KindReport("in_scene", len(in_scene), float(ref_withheld.mean()), float(ref_scene.mean()),
                          float("nan"))]
    for kind, frames in others.items():
        scores, withheld, scene = judged(frames)
        reports.append(KindReport(kind, len(frames), float(withheld.mean()), float(scene.mean()),
                                  auroc(np.nan_to_num(scores, nan=np.inf), np.nan_to_num(ref_scores, nan=np.inf))))
    return reports


def report_rows(reports: list[KindReport]) -> list[dict[str, object]]:
    return [asdict(r) for r in reports]


def format_reports(reports: list[KindReport]) -> str:
    lines = ["kind        frames  withheld  (out of scene)  AUROC of the score vs in-scene"]
    for r in reports:
        roc = "-" if np.isnan(r.auroc) else f"{r.auroc:.3f}"
        lines.append(f"{r.kind:<11} {r.frames:>6}  {100 * r.withheld:7.1f} %  {100 * r.withheld_out_of_scene:11.1f} %"
                     f"   {roc}")
    return "\n".join(lines)
