"""Synthetic posed route datasets rendered headlessly (moderngl over EGL on the CPU).

``make_scene(SceneConfig(...))`` writes a Cambridge-format folder (images, list files),
TUM ground truth, ``camera.yaml`` and ``scene.json``. See ``generate.py``.
"""
from .generate import SceneConfig, make_scene
from .presets import PRESETS
from .renderer import RenderBackendError

__all__ = ["PRESETS", "RenderBackendError", "SceneConfig", "make_scene"]
