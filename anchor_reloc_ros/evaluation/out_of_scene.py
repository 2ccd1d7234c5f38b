"""How well the gate keeps frames that are not from the mapped scene off the robot.

``out_of_scene_report`` runs a checkpoint on frames of its own scene (a split it did not
train on) and on frames that are not: uniform noise, an all-black and an all-white frame,
and optionally the frames of another dataset. For each kind it gives the share the gate
withholds at the given limits (the node's defaults unless set), the share withheld as out
of scene, and the AUROC of the out-of-scene score against the in-scene frames (1.0 =
every foreign frame scores above every in-scene frame).

Without odometry every frame is judged alone. With ``odometry`` (the node's odometry
check), the in-scene split is replayed in order with its ground-truth motion as odometry,
once as it is (the in-scene row) and per other kind with every ``INSERT_EVERY``-th frame
replaced by that kind's frames in turn, as a camera that sees something else while the
robot moves on. The walk is driven again (a fresh gate each time) until every frame of
the kind was shown once; the row counts the inserted frames.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..core.estimate import PoseEstimate
from ..core.frame_gate import frame_gate_for, pose_gate_for, reason_kind
from ..core.gate import GateDecision, GateLimits
from ..core.geometry import transform_from_pq
from ..core.odom_check import OdomCheckConfig
from ..core.localizer import Localizer
from ..data.loader import load_dataset
from ..training.image_cache import read_rgb

NOISE_FRAMES = 40
INSERT_EVERY = 5


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


def dataset_poses(data: Path, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(position, quat_wxyz) of each frame of a split, in the dataset's order."""
    return [(f.position, f.quat_wxyz) for f in load_dataset(Path(data), split).frames]


def out_of_scene_report(localizer: Localizer, in_scene: list[np.ndarray], others: dict[str, list[np.ndarray]],
                        limits: GateLimits = GateLimits(), odometry: OdomCheckConfig | None = None,
                        in_scene_poses: list[tuple[np.ndarray, np.ndarray]] | None = None) -> list[KindReport]:
    """One ``KindReport`` for the in-scene frames (first), then one per kind in ``others``.

    ``odometry`` needs ``in_scene_poses``: (position, quat_wxyz) of each in-scene frame, in order."""
    if odometry is not None and (in_scene_poses is None or len(in_scene_poses) != len(in_scene)):
        raise ValueError("the odometry replay needs one ground-truth pose per in-scene frame")
    scene_estimates = localizer.localize_batch(in_scene)
    gate = pose_gate_for(localizer.metadata, localizer.decoder.calibration)

    def alone(estimates: list[PoseEstimate]) -> list[GateDecision]:
        return [gate.check(e, limits) for e in estimates]

    def replayed(inserted: list[PoseEstimate] | None) -> list[GateDecision]:
        """The in-scene walk through the whole gate; the decisions of the inserted frames
        (every INSERT_EVERY-th; the walk is driven again, with a fresh gate, until every
        one of ``inserted`` was shown), or of all frames without."""
        slots = len(scene_estimates) // INSERT_EVERY
        passes = 1 if inserted is None else max(1, -(-len(inserted) // max(slots, 1)))
        out = []
        for p in range(passes):
            frame_gate = frame_gate_for(localizer.metadata, localizer.decoder.calibration, odometry)
            for i, (est, pose) in enumerate(zip(scene_estimates, in_scene_poses)):
                slot = p * slots + i // INSERT_EVERY
                swap = inserted is not None and i % INSERT_EVERY == INSERT_EVERY - 1 and slot < len(inserted)
                e = inserted[slot] if swap else est
                decision = frame_gate.judge(e, e.transform(), transform_from_pq(*pose), limits)
                if swap or inserted is None:
                    out.append(decision)
        return out

    def report(kind: str, decisions: list[GateDecision], roc: float) -> KindReport:
        withheld = np.array([not d.passed for d in decisions])
        scene = np.array([not d.passed and reason_kind(d.reason) == "out_of_scene" for d in decisions])
        return KindReport(kind, len(decisions), float(withheld.mean()), float(scene.mean()), roc)

    def scores(estimates: list[PoseEstimate]) -> np.ndarray:
        return np.nan_to_num(np.array([e.ood_score for e in estimates], dtype=float), nan=np.inf)

    reference = scores(scene_estimates)
    reports = [report("in_scene", alone(scene_estimates) if odometry is None else replayed(None), float("nan"))]
    for kind, frames in others.items():
        estimates = localizer.localize_batch(frames)
        decisions = alone(estimates) if odometry is None else replayed(estimates)
        reports.append(report(kind, decisions, auroc(scores(estimates), reference)))
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
