"""``Localizer``: image(s) in, ``PoseEstimate``(s) out.

The single code path used by training validation (through ``Decoder``), ``anchor-reloc
eval``, offline bag replay and the ROS node.
"""
from __future__ import annotations

import time
from dataclasses import replace
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .backends import InferenceBackend, TorchBackend
from .checkpoint import CheckpointContents, load_checkpoint
from .decoding import DecodeOptions, Decoder
from .estimate import PoseEstimate
from .inference_options import InferenceOptions
from .ood import OOD_SCORE_KEY
from .preprocessing import as_image_list, to_batch_uint8
from .test_time_views import view_images


class Localizer:
    def __init__(self, contents: CheckpointContents, device: str = InferenceOptions.device,
                 fp16: bool = InferenceOptions.fp16,
                 decode: str = DecodeOptions.mode, top_k: int = DecodeOptions.top_k, max_batch: int = 32,
                 source: str = "<memory>", backend: InferenceBackend | None = None,
                 views: int = DecodeOptions.views) -> None:
        """``backend`` defaults to eager torch on ``device``; pass another to run elsewhere."""
        self.backend = backend or TorchBackend(contents.model, device, fp16)
        self.device = self.backend.device
        self.source = source
        self.metadata = contents.metadata
        self.image_size = contents.image_size
        self.head = str(contents.metadata["model"]["head"])
        self.decoder = Decoder(contents.frame, contents.anchors_route, int(contents.metadata["model"]["anchor_dims"]),
                               contents.calibration, decode, top_k, views)
        self.anchors_world = (contents.frame.to_world(contents.anchors_route)
                              if len(contents.anchors_route) else np.zeros((0, 3)))
        self.max_batch = max(1, int(max_batch))

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = InferenceOptions.device,
                        fp16: bool = InferenceOptions.fp16,
                        decode: str = DecodeOptions.mode, top_k: int = DecodeOptions.top_k,
                        max_batch: int = 32, views: int = DecodeOptions.views) -> "Localizer":
        return cls(load_checkpoint(Path(path)), device=device, fp16=fp16, decode=decode,
                   top_k=top_k, max_batch=max_batch, source=str(path), views=views)

    # Decoding options, settable at run time (e.g. from ROS parameters): each change swaps
    # the decoder's immutable DecodeOptions whole, so a decode in flight sees old or new.
    @property
    def decode(self) -> str:
        return self.decoder.mode

    @decode.setter
    def decode(self, value: str) -> None:
        self.decoder.options = replace(self.decoder.options, mode=value)

    @property
    def top_k(self) -> int:
        return self.decoder.top_k

    @top_k.setter
    def top_k(self, value: int) -> None:
        self.decoder.options = replace(self.decoder.options, top_k=int(value))

    @property
    def views(self) -> int:
        return self.decoder.options.views

    def set_decode_options(self, options: DecodeOptions) -> None:
        """Change mode, top-k and views at once (one swap)."""
        self.decoder.options = options

    def run_network(self, batch_BHW3: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw head outputs for a uint8 (B, H, W, 3) batch already at the input size."""
        return self.backend(batch_BHW3)

    def run_views(self, images: Sequence[np.ndarray], views: int) -> dict[str, torch.Tensor]:
        """Raw head outputs of each RGB image's ``views`` test-time views (frame-major rows)."""
        return self.run_network(to_batch_uint8(view_images(images, views), self.image_size))

    def localize(self, image_rgb_HW3: np.ndarray) -> PoseEstimate:
        return self.localize_batch([image_rgb_HW3])[0]

    def localize_batch(self, images: np.ndarray | Sequence[np.ndarray]) -> list[PoseEstimate]:
        image_list = as_image_list(images)
        results: list[PoseEstimate] = []
        options = self.decoder.options   # read once: a swap in flight changes the next call
        frames = max(1, self.max_batch // options.views)
        for start in range(0, len(image_list), frames):
            chunk = image_list[start:start + frames]
            t0 = time.perf_counter()
            outputs = self.run_views(chunk, options.views)
            decoded = self.decoder.decode(outputs, options)
            per_image_ms = (time.perf_counter() - t0) * 1000.0 / len(chunk)
            estimates = decoded.estimates(self.anchors_world, per_image_ms)
            if OOD_SCORE_KEY in outputs:   # the frame's own view (view 0)
                scores = outputs[OOD_SCORE_KEY].detach().float().cpu().numpy()[::options.views]
                for est, score in zip(estimates, scores):
                    est.ood_score = float(score)
            results.extend(estimates)
        return results
