"""VGG16 and AlexNet in plain torch, able to return any named layer.

Both follow torchvision's module layout (``features`` / ``classifier``
``nn.Sequential``s), so a torchvision state dict loads with at most a rename of
keys (see :mod:`hypercolumns.extract.weights`).  Each network lists its layers
by the names the paper uses (``conv4_3``, ``pool3``, ``fc7``) with the stride
of each map relative to the input, which the hypercolumn needs for nothing but
checks: every map is upsampled over the whole crop.

``forward(x, layers)`` runs only as far as the deepest requested layer.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from hypercolumns.data.errors import InputError

# (name, kind, out_channels); kind is "conv" (3x3, pad 1, ReLU fused in the
# name), "pool" (2x2 stride 2 max)
VGG16_CONV_PLAN = [
    ("conv1_1", 64), ("conv1_2", 64), ("pool1", None),
    ("conv2_1", 128), ("conv2_2", 128), ("pool2", None),
    ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), ("pool3", None),
    ("conv4_1", 512), ("conv4_2", 512), ("conv4_3", 512), ("pool4", None),
    ("conv5_1", 512), ("conv5_2", 512), ("conv5_3", 512), ("pool5", None),
]


class TappedNetwork(nn.Module):
    """A feed-forward CNN whose named layers can be read out.

    Subclasses fill ``self.features`` / ``self.classifier`` and the ordered
    map ``self.taps``: layer name -> (part, index after which it is read,
    channels).
    """

    input_size: int
    name: str

    def channels(self, layer: str) -> int:
        return self.taps[self._check_layer(layer)][2]

    def has_classifier(self) -> bool:
        return self.classifier is not None and getattr(self, "classifier_loaded", False)

    def _check_layer(self, layer: str) -> str:
        """``layer`` if the network has it; InputError otherwise (a layer spec names it)."""
        if layer in ("fc6", "fc7") and not self.has_classifier():
            raise InputError(
                f"{self.name} layer {layer!r} needs fully connected weights, which the loaded "
                "weights do not have (the ImageNet conv weights shipped here have none); "
                "use the 'global' descriptor instead or load torchvision weights"
            )
        if layer not in self.taps:
            raise InputError(
                f"{self.name} has no layer {layer!r}; available: {', '.join(self.taps)}"
            )
        return layer

    def forward(self, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """Run the network and return the requested layers.

        Parameters
        ----------
        x : tensor of shape (B, 3, S, S), float32
            Preprocessed crops (see :mod:`hypercolumns.extract.crop`).
        layers : list of str
            Layer names, e.g. ``["pool3", "conv4_3", "conv5_3"]``.

        Returns
        -------
        dict of str to tensor
            ``(B, C, h, w)`` for conv/pool layers, ``(B, C)`` for fc layers.
        """
        wanted = {self._check_layer(name) for name in layers}
        by_position = {}
        for name in wanted:
            part, index, _ = self.taps[name]
            by_position[(part, index)] = name
        last = max(by_position, key=lambda key: (key[0] == "classifier", key[1]))
        out = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if ("features", i) in by_position:
                out[by_position[("features", i)]] = x
            if last == ("features", i):
                return out
        x = torch.flatten(self.avgpool(x), 1)
        for i, module in enumerate(self.classifier):
            x = module(x)
            if ("classifier", i) in by_position:
                out[by_position[("classifier", i)]] = x
            if last == ("classifier", i):
                return out
        return out


class VGG16(TappedNetwork):
    """VGG16 (Simonyan & Zisserman), torchvision layout, 224x224 input."""

    input_size = 224
    name = "vgg16"

    def __init__(self, with_classifier: bool = True):
        super().__init__()
        layers, taps, in_channels = [], OrderedDict(), 3
        for name, channels in VGG16_CONV_PLAN:
            if name.startswith("pool"):
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                taps[name] = ("features", len(layers) - 1, in_channels)
            else:
                layers += [nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
                taps[name] = ("features", len(layers) - 1, channels)
                in_channels = channels
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = None
        if with_classifier:
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(),
                nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(),
                nn.Linear(4096, 1000),
            )
            taps["fc6"] = ("classifier", 1, 4096)
            taps["fc7"] = ("classifier", 4, 4096)
        self.taps = taps
        self.classifier_loaded = False


class AlexNet(TappedNetwork):
    """AlexNet (Krizhevsky et al.), torchvision's single-tower layout, 227x227 input.

    torchvision's variant has 64/192/384/256/256 channels (not the original
    96/256/384/384/256); its weights are what users can have.
    """

    input_size = 227
    name = "alexnet"

    def __init__(self, with_classifier: bool = True):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        taps = OrderedDict(
            conv1=("features", 1, 64), pool1=("features", 2, 64),
            conv2=("features", 4, 192), pool2=("features", 5, 192),
            conv3=("features", 7, 384), conv4=("features", 9, 256),
            conv5=("features", 11, 256), pool5=("features", 12, 256),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = None
        if with_classifier:
            self.classifier = nn.Sequential(
                nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
                nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
                nn.Linear(4096, 1000),
            )
            taps["fc6"] = ("classifier", 2, 4096)
            taps["fc7"] = ("classifier", 5, 4096)
        self.taps = taps
        self.classifier_loaded = False


NETWORKS = {"vgg16": VGG16, "alexnet": AlexNet}


def build_network(name: str, with_classifier: bool = True) -> TappedNetwork:
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; available: {', '.join(NETWORKS)}")
    return NETWORKS[name](with_classifier=with_classifier)
