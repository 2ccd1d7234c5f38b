"""Choose a trained checkpoint's decode on its validation walk, and calibrate for it.

``choose_decode`` runs the checkpoint once on the validation frames with 4 test-time views
and scores each of ``CANDIDATES`` by its median translation error (the 1-view candidates
read the rows of view 0, the frame itself). The best one is calibrated for
(``recalibrate``), which records it, so that every tool decodes with it by default
(``decode auto``). argmax with one view, what training calibrated for, stays unless
another candidate is better by ``MIN_GAIN`` (it is the cheapest).

Only on a validation split of the dataset's own (a second walk): frames held out of the
training walk sit too close to training frames to choose between decodes that differ in
how they generalise (they chose fusion on every scene where it then lost on the test
walk), and a few frames cannot rank them at all (``MIN_FRAMES``). On the street demo
network's val walk the medians were argmax 3.82 m, cluster 3.87 m, argmax with 4 views
2.40 m, cluster with 4 views 2.15 m; over three seeds the val walk ranked them in the
same order as the test walk (5.40 / 4.75 / 3.85 / 3.32 m).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.checkpoint import load_checkpoint
from ..core.decoding import DecodeOptions
from ..core.localizer import Localizer
from ..core.test_time_views import first_views
from .prepare import checkpoint_train_val_frames
from .recalibrate import Recalibration, head_outputs, recalibrate

CANDIDATES = (DecodeOptions("argmax", views=1), DecodeOptions("cluster", views=1),
              DecodeOptions("argmax", views=4), DecodeOptions("cluster", views=4))
MAX_VIEWS = 4
MIN_FRAMES = 30     # fewer validation frames: keep argmax with one view
MIN_GAIN = 0.05     # another decode must lower the median by this share of argmax's


@dataclass
class DecodeChoice:
    chosen: DecodeOptions
    medians_m: dict[str, float]          # candidate label -> validation median translation error
    recalibration: Recalibration | None  # None when argmax with one view stays


def score_decodes(weights: Path, data: Path, device: str = "cpu"
                  ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Median validation translation error of each candidate (the dataset's own val split),
    and the ``MAX_VIEWS``-view head outputs they were decoded from."""
    contents = load_checkpoint(Path(weights))
    val = checkpoint_train_val_frames(Path(data), contents.metadata, val_split=True).val
    localizer = Localizer(contents, device=device, source=str(weights))
    outputs = head_outputs(localizer, [str(f.image_path) for f in val], MAX_VIEWS)
    gt = np.stack([f.position for f in val])
    medians = {}
    for options in CANDIDATES:
        decoded = localizer.decoder.decode(_views(outputs, options.views), options)
        medians[options.label] = float(np.median(np.linalg.norm(decoded.positions - gt, axis=1)))
    return medians, outputs


def choose_decode(weights: Path, data: Path, device: str = "cpu") -> DecodeChoice:
    """Score the candidates on ``data``'s val split and recalibrate ``weights`` in place for
    the best (see the module doc), from the same network pass. The caller checks that the
    split exists and is large enough."""
    medians, outputs = score_decodes(weights, data, device)
    baseline = CANDIDATES[0]
    best = min(CANDIDATES, key=lambda o: medians[o.label])
    if medians[best.label] > (1.0 - MIN_GAIN) * medians[baseline.label]:
        return DecodeChoice(baseline, medians, None)
    return DecodeChoice(best, medians, recalibrate(weights, data, weights, device, val_split=True, decoding=best,
                                                   outputs=_views(outputs, best.views)))


def _views(outputs: dict[str, np.ndarray], views: int) -> dict[str, np.ndarray]:
    return {k: first_views(v, MAX_VIEWS, views) for k, v in outputs.items()}


def format_choice(choice: DecodeChoice) -> str:
    scores = ", ".join(f"{label} {m:.2f} m" for label, m in choice.medians_m.items())
    return f"decode chosen on the val walk: {choice.chosen.label} (validation medians: {scores})"
