"""``bag_eval(config)``: a checkpoint (or ONNX export) on a rosbag2 recording, matched to ground truth.

Offline mode decodes the bag's images (and resizes them to the network input) on
``decode_workers`` threads, in order and ahead of the network, and feeds them to the
``Localizer`` in batches. Live mode (``ros.bag_replay``) replays the image messages
through the real node over DDS and records its output. Both then:

1. sort frames by image stamp and interpolate the ground truth at each stamp
   (``core.trajectory``; no pose within ``max_dt`` -> the frame has no truth, it is
   counted and left out of the metrics);
2. score every frame WITH truth, a frame without an estimate counting as infinite error;
3. write the same report as ``anchor-reloc eval`` (``evaluation.report``), an
   error-over-time plot and an output bag (mcap) with the estimates.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.anchors import RouteFrame
from ..core.backend_factory import read_weights_metadata
from ..core.decoding import DecodeOptions, UncertaintyCalibration
from ..core.errors import ConfigError
from ..core.estimate import PoseEstimate
from ..core.gate import GateDecision, GateLimits
from ..core.inference_options import InferenceOptions
from ..core.localizer import Localizer
from ..core.metrics import summarize_errors
from ..core.odom_check import OdomCheckConfig
from ..core.trajectory import Trajectory
from ..data.prefetch import default_workers
from ..data.rosbag_estimates import write_estimates_bag
from ..data.rosbag_ground_truth import GroundTruthSource
from ..data.rosbag_images import IMAGE_TYPES, BagFrame, FrameStats, iter_bag_images
from ..data.rosbag_io import BagError, BagReader
from .report import EvaluationResult, collect, write_report

MODES = ("offline", "live")
MAP_FRAME = "map"


@dataclass
class BagEvalConfig:
    bag: Path
    weights: Path
    image_topic: str
    out: Path
    gt: GroundTruthSource
    mode: str = "offline"
    rate: float = 1.0             # live: replay speed factor
    max_dt: float = 0.1           # s, largest gap to the bracketing ground-truth samples
    inference: InferenceOptions = field(default_factory=InferenceOptions)  # live: the node's parameters
    decoding: DecodeOptions = field(default_factory=DecodeOptions)
    batch_size: int = 16
    decode_workers: int = field(default_factory=default_workers)  # offline: decode/resize threads
    plots: bool = True
    storage: str = "mcap"         # output bag storage
    gate: bool = True             # offline: also run the node's gate (accuracy vs frames published)
    odom_check: bool = True       # offline gate: the odometry check when the bag has odom -> base_link
    gate_limits: GateLimits = field(default_factory=GateLimits)        # offline gate: the node's defaults
    odom_config: OdomCheckConfig = field(default_factory=OdomCheckConfig)


@dataclass
class FrameEstimates:
    """Per image frame of the bag, in any order: stamp, estimate (None = no output)."""

    stamps_ns: list[int] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)        # position in the bag
    estimates: list[PoseEstimate | None] = field(default_factory=list)

    def add(self, stamp_ns: int, index: int, estimate: PoseEstimate | None) -> None:
        self.stamps_ns.append(int(stamp_ns))
        self.indices.append(int(index))
        self.estimates.append(estimate)

    def sorted(self) -> "FrameEstimates":
        order = sorted(range(len(self.stamps_ns)), key=lambda i: (self.stamps_ns[i], self.indices[i]))
        return FrameEstimates([self.stamps_ns[i] for i in order], [self.indices[i] for i in order],
                              [self.estimates[i] for i in order])


def validate(config: BagEvalConfig) -> None:
    config.gt.validate()
    if config.mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {config.mode!r}")
    if not config.max_dt > 0:
        raise ConfigError(f"--max-dt must be positive, got {config.max_dt}")
    if not config.rate > 0:
        raise ConfigError(f"--rate must be positive, got {config.rate}")
    if config.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {config.batch_size}")
    if config.decode_workers < 1:
        raise ConfigError(f"--decode-workers must be at least 1, got {config.decode_workers}")
    config.inference.check(config.weights)
    if config.mode == "live" and config.inference.cuda_graphs:
        raise ConfigError("--cuda-graphs is for --mode offline: the node has no CUDA-graphs parameter")


def _batches(frames: Iterable[BagFrame], size: int) -> Iterator[list[BagFrame]]:
    batch: list[BagFrame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def localize_offline(bag: BagReader, topic: str, localizer: Localizer, batch_size: int,
                     stats: FrameStats, decode_workers: int = 1) -> tuple[FrameEstimates, dict[str, float]]:
    """Every decodable frame of ``topic`` through the Localizer. ``decode_workers`` threads
    decode and resize to the network input, up to two batches ahead, so the main thread
    only stacks ready images and runs the network. With test-time views the frames keep
    their size: the views are cropped from the frame as received, as the node does."""
    frames = FrameEstimates()
    t0 = time.perf_counter()
    decoded = iter_bag_images(bag, topic, stats, size_hw=localizer.image_size, resize=localizer.views == 1,
                              workers=decode_workers,
                              depth=max(2 * batch_size, 2 * decode_workers))
    with closing(decoded):  # stops the decode threads on an early exit
        for batch in _batches(decoded, batch_size):
            for frame, est in zip(batch, localizer.localize_batch([f.rgb for f in batch])):
                frames.add(frame.stamp_ns, frame.index, est)
    wall = time.perf_counter() - t0
    n = len(frames.estimates)
    return frames, {"wall_s": wall, "images_per_s": n / wall if wall > 0 and n else 0.0}


def match_ground_truth(frames: FrameEstimates, traj: Trajectory, max_dt: float,
                       anchors_world: np.ndarray) -> tuple[EvaluationResult, FrameEstimates, int]:
    """Score the frames that have ground truth; returns the result, those frames, and the
    number left out for lack of ground truth within ``max_dt``."""
    ordered = frames.sorted()
    stamps_s = np.asarray(ordered.stamps_ns, dtype=np.float64) * 1e-9
    gt_p, gt_q, valid = traj.interpolate(stamps_s, max_dt)
    keep = np.flatnonzero(valid)
    kept = FrameEstimates([ordered.stamps_ns[i] for i in keep], [ordered.indices[i] for i in keep],
                          [ordered.estimates[i] for i in keep])
    if not len(keep):
        raise BagError(f"no image stamp has ground truth within --max-dt {max_dt} s "
                       f"(images {_span(stamps_s)}, ground truth {_span(traj.stamps)}): "
                       "wrong topic, clock, or too small --max-dt?")
    names = [f"frame{i:06d}" for i in kept.indices]
    result = collect(names, stamps_s[keep], kept.estimates, gt_p[keep], gt_q[keep], anchors_world)
    return result, kept, int(len(ordered.stamps_ns) - len(keep))


def _span(stamps_s: np.ndarray) -> str:
    if not len(stamps_s):
        return "none"
    return f"{len(stamps_s)} from {np.min(stamps_s):.3f} to {np.max(stamps_s):.3f} s"


def _fresh_output_bag(path: Path) -> Path:
    """Remove an earlier output bag at ``path`` (only if it is one)."""
    if path.exists():
        if not (path / "metadata.yaml").is_file():
            raise BagError(f"{path} exists and is not a bag: refusing to overwrite it")
        shutil.rmtree(path)
    return path


def write_outputs(config: BagEvalConfig, result: EvaluationResult, frames: FrameEstimates,
                  anchors_world: np.ndarray, decode_mode: str, extra: dict[str, object],
                  recorded_bag: Path | None = None,
                  decisions: list[GateDecision | None] | None = None) -> dict[str, Path]:
    """Report files, error-over-time plot and the estimates bag (unless ``recorded_bag``
    already holds what a live node published); ``decisions`` (the offline gate's, one per
    frame of ``frames``) flag the withheld frames in its AnchorDebug."""
    title = f"{Path(config.bag).name} {config.image_topic} ({config.mode}, {decode_mode})"
    paths = write_report(result, config.out, title, extra, plots=config.plots)
    if config.plots:
        from .plots import plot_error_over_time

        paths["error_over_time"] = plot_error_over_time(result, Path(config.out) / "error_over_time.png",
                                                        title)
    if recorded_bag is not None:
        paths["estimates_bag"] = recorded_bag
    else:
        verdicts = decisions or [None] * len(frames.estimates)
        items = [(s, e, d) for s, e, d in zip(frames.stamps_ns, frames.estimates, verdicts) if e is not None]
        paths["estimates_bag"] = write_estimates_bag(_fresh_output_bag(Path(config.out) / "estimates_bag"),
                                                     items, MAP_FRAME, anchors_world, decode_mode,
                                                     config.storage)
    return paths


def anchors_from_metadata(meta: dict) -> np.ndarray:
    """World anchor positions from a checkpoint's (or ONNX export's) metadata (no model load)."""
    route = np.asarray(meta.get("anchors", {}).get("positions_route", []), dtype=np.float64).reshape(-1, 3)
    return RouteFrame.from_dict(meta["route_frame"]).to_world(route) if len(route) else np.zeros((0, 3))


def bag_eval(config: BagEvalConfig) -> tuple[EvaluationResult, dict[str, Path], dict[str, object]]:
    """Run the evaluation; returns the result, the written paths and the summary extras."""
    validate(config)
    with BagReader(config.bag) as bag:  # bag and ground-truth problems show before the model loads
        bag.connections(config.image_topic, IMAGE_TYPES, "image")
        traj, gt_info = config.gt.load(bag)
    common = {"mode": config.mode, "bag": str(config.bag), "image_topic": config.image_topic,
              "weights": str(config.weights), "max_dt_s": config.max_dt, **gt_info}
    run = _live if config.mode == "live" else _offline
    return run(config, traj, common)


def _offline(config: BagEvalConfig, traj: Trajectory, common: dict[str, object]
             ) -> tuple[EvaluationResult, dict[str, Path], dict[str, object]]:
    localizer = config.inference.localizer(config.weights, config.decoding, config.batch_size)
    stats = FrameStats()
    with BagReader(config.bag) as bag:
        frames, speed = localize_offline(bag, config.image_topic, localizer, config.batch_size, stats,
                                         config.decode_workers)
    if not frames.estimates:
        raise BagError(f"no decodable image on {config.image_topic!r} in {config.bag} "
                       f"({stats.messages} messages, {stats.bad} bad: {'; '.join(stats.bad_reasons)})")
    result, kept, no_gt = match_ground_truth(frames, traj, config.max_dt, localizer.anchors_world)
    extra: dict[str, object] = {
        **common, **localizer.decoder.options.summary_fields(),
        "device": str(localizer.device),
        "backend": localizer.backend.name, "threads": config.inference.threads,
        "decode_workers": config.decode_workers, "frames_localized": len(frames.estimates),
        "frames_without_gt": no_gt, **stats.as_dict(), **speed}
    ordered = frames.sorted()
    decisions, gate_plot = _offline_gate(config, localizer, ordered, kept, result, extra) if config.gate \
        else (None, None)
    paths = write_outputs(config, result, ordered, localizer.anchors_world, localizer.decode,
                          extra, decisions=decisions)
    if gate_plot is not None:
        paths["accuracy_vs_published"] = gate_plot()
    return result, paths, extra


def _offline_gate(config: BagEvalConfig, localizer: Localizer, ordered: FrameEstimates, kept: FrameEstimates,
                  result: EvaluationResult, extra: dict[str, object]):
    """The node's gate (``config.gate_limits``, the node's defaults unless set) over every frame
    in stamp order, as the node judges them; the figures of the scored (``kept``) frames go
    into ``extra``. Returns the decisions of ``ordered`` and a callable that writes the
    accuracy-vs-published plot (None without plots)."""
    from .bag_gate import (gate_frames, gate_report, plot_accuracy_vs_published,
                           read_bag_odometry, write_gate_frames)

    odometry = None
    if config.odom_check:
        with BagReader(config.bag) as bag:
            odometry = read_bag_odometry(bag)
    limits = config.gate_limits
    all_decisions, all_covariances = gate_frames(ordered, localizer.metadata, localizer.decoder.calibration,
                                                 limits, odometry, config.odom_config)
    by_frame = dict(zip(zip(ordered.stamps_ns, ordered.indices), zip(all_decisions, all_covariances)))
    kept_keys = list(zip(kept.stamps_ns, kept.indices))
    decisions = [by_frame[key][0] for key in kept_keys]
    covariances = [by_frame[key][1] for key in kept_keys]
    extra.update(gate_report(decisions, result.translation_error, odometry is not None, limits,
                             result.est_positions - result.gt_positions, covariances))
    Path(config.out).mkdir(parents=True, exist_ok=True)
    write_gate_frames(Path(config.out) / "gate_frames.csv", kept.stamps_ns, decisions, result.translation_error)
    if not config.plots:
        return all_decisions, None
    published = np.array([d is not None and d.passed for d in decisions])
    scores = np.array([d.ood_score if d is not None else np.inf for d in decisions])
    return all_decisions, lambda: plot_accuracy_vs_published(result.translation_error, published, scores,
                                              Path(config.out) / "accuracy_vs_published.png",
                                              f"{Path(config.bag).name}: the gate")


def _live(config: BagEvalConfig, traj: Trajectory, common: dict[str, object]
          ) -> tuple[EvaluationResult, dict[str, Path], dict[str, object]]:
    from ..ros.bag_replay import LiveOptions, node_threads, replay_live  # rclpy only when asked for

    meta = read_weights_metadata(config.weights)   # the node loads the model; here only its anchors and decode
    anchors = anchors_from_metadata(meta)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    recording = _fresh_output_bag(out / "estimates_bag")
    options = LiveOptions(Path(config.weights), config.inference, config.decoding, rate=config.rate)
    run = replay_live(Path(config.bag), config.image_topic, recording, out / "node.log", options)
    frames = FrameEstimates(list(run.stamps_ns), list(run.indices),
                            [run.estimates.get(s) for s in run.stamps_ns])
    result, _, no_gt = match_ground_truth(frames, traj, config.max_dt, anchors)
    answered = np.isfinite(result.translation_error)
    processed = summarize_errors(result.translation_error[answered], result.rotation_error[answered])
    extra: dict[str, object] = {
        **common, **config.decoding.resolved(UncertaintyCalibration.from_dict(meta["calibration"])).summary_fields(),
        "device": config.inference.device, "backend": config.inference.backend,
        "threads": node_threads(config.inference),  # as given to the node
        "rate_factor": config.rate, "frames_localized": len(run.estimates), "frames_without_gt": no_gt,
        **run.frame_stats.as_dict(), **run.stats,
        # the same metrics over the frames the node answered (the main ones count drops as failures)
        **{f"answered_{k}": v for k, v in processed.items()}}
    paths = write_outputs(config, result, frames.sorted(), anchors, config.decoding.mode, extra,
                          recorded_bag=recording)
    paths["node_log"] = out / "node.log"
    return result, paths, extra
