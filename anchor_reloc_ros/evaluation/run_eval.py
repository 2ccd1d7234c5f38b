"""``evaluate(...)``: a checkpoint (or ONNX export) on a dataset split, through the Localizer."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.decoding import DecodeOptions
from ..core.inference_options import InferenceOptions
from ..core.localizer import Localizer
from ..data.loader import load_dataset
from ..training.image_cache import read_rgb
from .report import EvaluationResult, collect, write_report


@dataclass
class EvalConfig:
    weights: Path
    data: Path
    out: Path
    split: str = "test"
    inference: InferenceOptions = field(default_factory=InferenceOptions)
    decoding: DecodeOptions = field(default_factory=DecodeOptions)
    batch_size: int = 32
    plots: bool = True
    kitti_test_every: int | None = None  # None: the checkpoint's training value


def evaluate(config: EvalConfig, localizer: Localizer | None = None) -> tuple[EvaluationResult, dict[str, Path]]:
    """Localize every frame of the split and write the report into ``config.out``."""
    loc = localizer or config.inference.localizer(config.weights, config.decoding,
                                                  config.batch_size)  # bad backend choice: ConfigError
    # Baselines without a checkpoint (retrieval, the minimal-fit control) carry no training split.
    trained_every = getattr(loc, "metadata", {}).get("training", {}).get("kitti_test_every")
    kitti_test_every = config.kitti_test_every if config.kitti_test_every is not None else trained_every
    dataset = load_dataset(config.data, config.split, kitti_test_every=kitti_test_every)
    estimates = []
    for start in range(0, len(dataset), config.batch_size):
        chunk = dataset.frames[start:start + config.batch_size]
        estimates.extend(loc.localize_batch([read_rgb(str(f.image_path)) for f in chunk]))
    stamps = [f.timestamp if f.timestamp is not None else float(i) for i, f in enumerate(dataset.frames)]
    result = collect([f.name for f in dataset.frames], stamps, estimates, dataset.positions(),
                     dataset.quaternions(), loc.anchors_world)
    extra = {"weights": str(config.weights), "data": str(config.data), "split": config.split,
             "decode": loc.decode, "top_k": loc.top_k, "views": loc.views, "device": str(loc.device),
             "backend": getattr(getattr(loc, "backend", None), "name", "torch")}
    paths = write_report(result, config.out, f"{Path(config.data).name} / {config.split} ({loc.decode})",
                         extra, plots=config.plots)
    return result, paths
