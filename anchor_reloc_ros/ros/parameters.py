"""The node's parameters: one table of specs, declared with descriptors and validated.

``PARAMETERS`` is the node's table: ``declare_all`` turns it into ROS declarations
(description, range, read_only), ``validate`` refuses bad values with a message that names
the parameter, and ``NodeParams`` is the typed snapshot the node reads. The inference and
decoding entries are generated from ``InferenceOptions`` and ``DecodeOptions`` (their
defaults, help texts, choices and ranges; ``threads`` is ``cpu_threads`` here), which
``NodeParams`` embeds whole. ``config/anchor_reloc.yaml`` must list exactly these names
with these defaults.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
    ParameterUninitializedException,
)
from rclpy.node import Node

from ..core.decoding import DecodeOptions
from ..core.gate import GateLimits
from ..core.odom_check import OdomCheckConfig
from ..core.errors import ConfigError
from ..core.inference_options import InferenceOptions
from ..core.options import option_specs
from ..data.image_header import DEFAULT_MAX_IMAGE_PIXELS

TRANSPORTS = ("raw", "compressed")
RELIABILITIES = ("best_effort", "reliable")
TF_MODES = ("none", "map_to_odom", "map_to_base", "map_to_camera")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    read_only: bool = False
    choices: tuple[str | int, ...] = ()
    range: tuple[float, float] | None = None


# NodeParams fields that embed an options dataclass; its node parameters are generated.
EMBEDDED: dict[str, type] = {"inference": InferenceOptions, "decoding": DecodeOptions,
                             "gate": GateLimits, "odom": OdomCheckConfig}
# Node parameter -> (NodeParams field, options field), e.g. cpu_threads -> (inference, threads).
OPTION_PARAMETERS: dict[str, tuple[str, str]] = {
    s.parameter: (group, s.name) for group, cls in EMBEDDED.items() for s in option_specs(cls) if s.parameter}


# Node parameters whose change rebuilds the gate, which restarts the odometry vote: every
# odom_* option, and what says where odometry comes from.
GATE_REBUILT_BY: frozenset[str] = frozenset(
    {name for name, (group, _) in OPTION_PARAMETERS.items() if group == "odom"}
    | {"odom_check", "odom_frame", "base_frame", "map_frame"})


def option_parameters(options: object) -> dict[str, Any]:
    """The node parameters of an options dataclass instance: ``{parameter name: value}``."""
    return {s.parameter: getattr(options, s.name) for s in option_specs(options) if s.parameter}


def _option_entries(cls: type, read_only: bool) -> tuple[ParamSpec, ...]:
    return tuple(ParamSpec(s.parameter, s.default, s.help, read_only, tuple(s.choices), s.range)
                 for s in option_specs(cls) if s.parameter)


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("weights", "", "Checkpoint (.safetensors from anchor-reloc train, or an .onnx "
              "export); a relative path is also searched in the package's share/weights "
              "directory", read_only=True),
    *_option_entries(InferenceOptions, read_only=True),   # backend, device, fp16, cpu_threads
    ParamSpec("inference_workers", 1, "Frames localized in parallel (each worker takes the newest "
              "frame; a result overtaken by a newer frame's is not published). 2 on a 2-core CPU "
              "with cpu_threads 1 roughly doubles the rate of a model slower than the camera",
              read_only=True, range=(1, 16)),
    ParamSpec("image_topic", "image_raw", "Camera image topic (base name for the compressed "
              "transport: <image_topic>/compressed)", read_only=True),
    ParamSpec("image_transport", "raw", "raw = sensor_msgs/Image, compressed = "
              "sensor_msgs/CompressedImage (jpeg/png)", read_only=True, choices=TRANSPORTS),
    ParamSpec("qos_reliability", "best_effort", "Image subscription reliability: best_effort "
              "(sensor-data QoS, matches every publisher) or reliable", read_only=True,
              choices=RELIABILITIES),
    ParamSpec("max_image_pixels", DEFAULT_MAX_IMAGE_PIXELS, "Largest frame accepted, in pixels "
              "(width x height), checked on the raw fields or the PNG/JPEG header before decoding; "
              "a larger frame is a bad frame. The default 16777216 (4096 x 4096) is above every "
              "common camera (4K UHD is 8.3 MP) and bounds a decoded frame to 48 MiB, so a small "
              "compressed 'bomb' cannot cost gigabytes and seconds. 0 = no limit",
              range=(0, 2**31 - 1)),
    ParamSpec("map_frame", "map", "Fixed frame of the map the network was trained in"),
    ParamSpec("odom_frame", "odom", "Odometry frame (tf_mode map_to_odom)"),
    ParamSpec("base_frame", "base_link", "Robot body frame whose pose is published"),
    ParamSpec("camera_frame", "", "Camera OPTICAL frame; empty = the image's header.frame_id"),
    ParamSpec("tf_mode", "none", "Transform to broadcast: none, map_to_odom (REP-105, like AMCL), "
              "map_to_base or map_to_camera", choices=TF_MODES),
    ParamSpec("tf_timeout_s", 0.1, "Longest wait for a TF lookup at the image stamp (s)",
              range=(0.0, 10.0)),
    ParamSpec("transform_publish_period", 0.05, "tf_mode map_to_odom: period (s) at which the "
              "latest map -> odom is broadcast again between estimates, as AMCL keeps it alive; "
              "0 = only once per estimate", read_only=True, range=(0.0, 10.0)),
    ParamSpec("transform_tolerance", 0.5, "How far (s) a re-broadcast map -> odom is stamped past "
              "the newer of its estimate's stamp and now, so TF lookups at the current time succeed "
              "between broadcasts (a new estimate reaches such lookups this much later, as in AMCL)",
              range=(0.0, 10.0)),
    ParamSpec("max_rate_hz", 0.0, "Process at most this many frames per second; 0 = as fast as "
              "the model runs", range=(0.0, 1000.0)),
    *_option_entries(GateLimits, read_only=False),        # max_ood_score, min_confidence, ...
    ParamSpec("odom_check", False, "Gate: publish only estimates that recent estimates, carried by "
              "odometry (odom_frame -> base_frame on TF), agree with; replaces the "
              "max_position_std_factor test where it runs"),
    *_option_entries(OdomCheckConfig, read_only=False),   # odom_rejection_threshold, ...
    *_option_entries(DecodeOptions, read_only=False),     # decode, top_k: settable at run time
    ParamSpec("publish_initialpose", False, "Also publish confident estimates on initialpose "
              "(seeds AMCL)"),
    ParamSpec("initialpose_min_confidence", 0.5, "Confidence needed for an initialpose",
              range=(0.0, 1.0)),
    ParamSpec("initialpose_interval_s", 5.0, "Minimum time between two initialpose messages in "
              "continuous mode (s); 0 = every confident estimate", range=(0.0, 3600.0)),
    ParamSpec("continuous", True, "Localize every frame (true) or only on the ~/relocalize "
              "service (false)"),
    ParamSpec("relocalize_timeout_s", 5.0, "Longest the ~/relocalize service waits for an "
              "image and its estimate (s)", range=(0.1, 60.0)),
    ParamSpec("diagnostics_period_s", 1.0, "Period of /diagnostics messages (s)",
              read_only=True, range=(0.1, 60.0)),
)
SPECS: dict[str, ParamSpec] = {p.name: p for p in PARAMETERS}


@dataclass(frozen=True)
class NodeParams:
    """Typed snapshot of every parameter (replaced atomically when one changes)."""

    weights: str
    inference: InferenceOptions      # backend, device, fp16, cpu_threads (-> threads)
    decoding: DecodeOptions          # decode (-> mode), top_k
    inference_workers: int
    image_topic: str
    image_transport: str
    qos_reliability: str
    max_image_pixels: int
    map_frame: str
    odom_frame: str
    base_frame: str
    camera_frame: str
    tf_mode: str
    tf_timeout_s: float
    transform_publish_period: float
    transform_tolerance: float
    max_rate_hz: float
    gate: GateLimits                 # max_ood_score, min_confidence, max_position_std(_factor)
    odom_check: bool
    odom: OdomCheckConfig            # odom_rejection_threshold, odom_window_frames, odom_min_agreeing, odom_drift_per_m
    publish_initialpose: bool
    initialpose_min_confidence: float
    initialpose_interval_s: float
    continuous: bool
    relocalize_timeout_s: float
    diagnostics_period_s: float

    @staticmethod
    def _fields(values: Mapping[str, Any], base: "NodeParams | None") -> dict[str, Any]:
        """Parameter values by name -> NodeParams fields (embedded options built or replaced)."""
        own = {k: v for k, v in values.items() if k not in OPTION_PARAMETERS}
        for group, cls in EMBEDDED.items():
            sub = {name: values[p] for p, (g, name) in OPTION_PARAMETERS.items() if g == group and p in values}
            if base is None:
                own[group] = cls(**sub)
            elif sub:
                own[group] = replace(getattr(base, group), **sub)
        return own

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any]) -> "NodeParams":
        return cls(**cls._fields(values, None))

    def updated(self, changes: Mapping[str, Any]) -> "NodeParams":
        return replace(self, **self._fields(changes, self))

    def value(self, name: str) -> Any:
        """A parameter's value by its ROS name."""
        if name in OPTION_PARAMETERS:
            group, field_name = OPTION_PARAMETERS[name]
            return getattr(getattr(self, group), field_name)
        return getattr(self, name)

    @property
    def subscribed_topic(self) -> str:
        """The topic actually subscribed (image_transport naming for compressed)."""
        if self.image_transport == "compressed" and not self.image_topic.endswith("/compressed"):
            return self.image_topic.rstrip("/") + "/compressed"
        return self.image_topic


def parameter_names() -> set[str]:
    """The node parameters NodeParams holds: its own fields plus those of the embedded options."""
    return {f.name for f in fields(NodeParams) if f.name not in EMBEDDED} | set(OPTION_PARAMETERS)


if parameter_names() != set(SPECS):  # a real check: asserts vanish under -O
    raise ImportError("anchor_reloc_ros.ros.parameters: NodeParams and PARAMETERS list different names")

_FRAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def validate(name: str, value: Any) -> str | None:
    """None when ``value`` is acceptable for ``name``, else the reason it is refused."""
    spec = SPECS.get(name)
    if spec is None:
        return None  # e.g. use_sim_time: not ours to judge
    expected = type(spec.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        return (f"parameter '{name}' must be a {expected.__name__}, "
                f"got {type(value).__name__} {value!r}")
    if spec.choices and value not in spec.choices:
        return f"parameter '{name}' = {value!r} is invalid: expected one of {', '.join(map(str, spec.choices))}"
    if spec.range is not None and not spec.range[0] <= value <= spec.range[1]:
        return f"parameter '{name}' = {value!r} is out of range [{spec.range[0]}, {spec.range[1]}]"
    if name == "device" and not _DEVICE_RE.match(value):
        return f"parameter 'device' = {value!r} is invalid: expected auto, cpu, cuda or cuda:N"
    if name == "weights" and not value.strip():
        return "parameter 'weights' is empty: set it to a checkpoint file (.safetensors or .onnx)"
    if name == "image_topic" and (not value or any(c.isspace() for c in value)):
        return f"parameter 'image_topic' = {value!r} is not a valid topic name"
    if name in ("map_frame", "odom_frame", "base_frame") or (name == "camera_frame" and value):
        if not _FRAME_RE.match(value):
            return (f"parameter '{name}' = {value!r} is not a valid frame id "
                    "(non-empty, no leading '/', no spaces)")
    return None


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    desc = ParameterDescriptor(name=spec.name, description=spec.description,
                               read_only=spec.read_only)
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(map(str, spec.choices))
    if spec.range is not None:
        lo, hi = spec.range
        if isinstance(spec.default, float):
            desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi))]
        else:
            desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
    return desc


def declare_all(node: Node) -> NodeParams:
    """Declare every parameter and return the validated snapshot; ConfigError if refused."""
    values: dict[str, Any] = {}
    for spec in PARAMETERS:
        try:
            value = node.declare_parameter(spec.name, spec.default, descriptor(spec)).value
        except (InvalidParameterValueException, InvalidParameterTypeException,
                ParameterUninitializedException) as exc:
            raise ConfigError(f"parameter '{spec.name}' refused: {exc}") from exc
        if isinstance(spec.default, float) and isinstance(value, int):
            value = float(value)
        reason = validate(spec.name, value)
        if reason is not None:
            raise ConfigError(reason)
        values[spec.name] = value
    return NodeParams.from_parameters(values)
