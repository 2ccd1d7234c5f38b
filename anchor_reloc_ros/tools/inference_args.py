"""The inference options shared by the CLIs (``eval``, ``bag-eval``): one definition.

``add_inference_arguments`` adds --backend/--device/--fp16/--threads/--cuda-graphs;
``inference_options_from_args`` turns them into ``core.backend_factory.InferenceOptions``.
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..core.backends import BACKEND_CHOICES

if TYPE_CHECKING:
    from ..core.backend_factory import InferenceOptions


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def add_inference_arguments(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Add the options to ``parser`` (in an "inference" group); returns their actions by
    destination, so that a tool can append its own notes to a help text."""
    g = parser.add_argument_group("inference")
    actions = [
        g.add_argument("--backend", choices=BACKEND_CHOICES, default="auto",
                       help="auto (default): torch for a .safetensors checkpoint, ONNX Runtime (CUDA "
                            "when usable, else CPU) for an .onnx export; onnxruntime and tensorrt need "
                            "an .onnx export (anchor-reloc export), torch a .safetensors checkpoint"),
        g.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)"),
        g.add_argument("--fp16", action="store_true",
                       help="half precision: torch on CUDA, or the TensorRT provider "
                            "(an fp16 .onnx export runs fp16 on any provider)"),
        g.add_argument("--threads", type=_non_negative_int, default=0, metavar="N",
                       help="CPU threads for torch or ONNX Runtime; 0 = the library default (default 0)"),
        g.add_argument("--cuda-graphs", action="store_true",
                       help="replay the torch forward as CUDA graphs (torch on CUDA only; "
                            "ignored on the CPU)"),
    ]
    return {a.dest: a for a in actions}


def inference_options_from_args(args: argparse.Namespace) -> InferenceOptions:
    """The ``InferenceOptions`` of the options ``add_inference_arguments`` added."""
    from ..core.backend_factory import InferenceOptions

    return InferenceOptions(backend=args.backend, device=args.device, fp16=args.fp16,
                            threads=args.threads, cuda_graphs=args.cuda_graphs)
