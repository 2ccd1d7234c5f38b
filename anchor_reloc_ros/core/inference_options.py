"""``InferenceOptions``: how a model runs, defined once.

Each option (backend, device, fp16, CPU threads, CUDA graphs) has its default and help
text here; the CLIs' flags (``tools.inference_args``), the node's parameters
(``ros.parameters``) and the lower-level constructors (``Localizer``, ``TorchBackend``,
``OnnxBackend``) take their defaults from it. ``InferenceOptions.localizer`` builds a
model through ``backend_factory.make_localizer``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .decoding import DecodeOptions
from .errors import ConfigError
from .options import check_options, option

if TYPE_CHECKING:
    from .localizer import Localizer

BACKEND_CHOICES = ("auto", "torch", "onnxruntime", "tensorrt")
ONNX_SUFFIX = ".onnx"


def is_onnx_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ONNX_SUFFIX


def check_backend(backend: str, path: Path) -> None:
    if backend not in BACKEND_CHOICES:
        raise ConfigError(f"backend must be one of {BACKEND_CHOICES}, got {backend!r}")
    if not is_onnx_path(path) and backend not in ("auto", "torch"):
        raise ConfigError(f"backend={backend} runs exported ONNX models, but {path} is a torch checkpoint; "
                          f"export it first: anchor-reloc export --weights {path} --format onnx --out MODEL.onnx")
    if is_onnx_path(path) and backend == "torch":
        raise ConfigError(f"backend=torch needs a .safetensors checkpoint, got the ONNX export {path}; "
                          "use backend=onnxruntime (or auto)")


@dataclass(frozen=True)
class InferenceOptions:
    """How a model runs: the one definition of these options (their defaults and help texts)
    for every CLI, config and the node's parameters (``threads`` is ``cpu_threads`` there)."""

    backend: str = option("auto", "Inference backend: auto (torch for a .safetensors checkpoint, ONNX "
                          "Runtime for an .onnx export, on CUDA when usable), torch, onnxruntime or tensorrt "
                          "(these two need an .onnx export: anchor-reloc export)", choices=BACKEND_CHOICES)
    device: str = option("auto", "Compute device: auto (CUDA if present, else the CPU), cpu, cuda or cuda:N")
    fp16: bool = option(False, "Half precision: torch on CUDA, or the TensorRT provider (an fp16 .onnx "
                        "export runs fp16 on any provider); ignored on the CPU")
    threads: int = option(0, "CPU threads for inference (torch or ONNX Runtime); 0 = the library default "
                          "(all cores). Leave cores to the rest of the robot stack",
                          range=(0, 256), metavar="N", ros_name="cpu_threads")
    cuda_graphs: bool = option(False, "Replay the torch forward as CUDA graphs (torch on CUDA only; "
                               "ignored on the CPU)", ros_name=None)

    def __post_init__(self) -> None:
        reason = check_options(self)
        if reason is not None:
            raise ConfigError(reason)

    def check(self, weights: str | Path) -> None:
        """Raise ``ConfigError`` for a bad backend/weights combination before anything heavy runs."""
        check_backend(self.backend, Path(weights))

    def localizer(self, weights: str | Path, decoding: DecodeOptions = DecodeOptions(),
                  max_batch: int = 32) -> Localizer:
        """A ready Localizer for ``weights`` (see ``make_localizer``)."""
        from .backend_factory import make_localizer  # torch, ONNX Runtime: only when a model is built

        return make_localizer(weights, self.backend, self.device, self.fp16, decoding.mode, decoding.top_k,
                              max_batch, self.threads, self.cuda_graphs, decoding.views)
