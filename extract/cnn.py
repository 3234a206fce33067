"""The frozen CNN applied to boxes of an image: expand, crop, warp, forward.

Shared by stage one (training rows) and inference (heatmaps), so both see
exactly the same crops.  The network runs on the GPU when torch sees one,
else on the CPU in ``channels_last`` layout (about 1.4x faster there for
VGG16, see MEASURED.md); it is always in eval mode without gradients.

One constructor builds it: :func:`frozen_cnn` (weights, padding). Callers
with a stage-one config use :func:`load_cnn`, which checks the weights
against the config's sha256 and gives the config's feature source (a
SharedImageCNN when shared); the inference engine
(``pipelines.inference.engine``) shares one network between configs.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from hypercolumns.data.errors import InputError
from hypercolumns.extract.box_expansion import SmallBoxContext, expand_boxes
from hypercolumns.extract.config import FeatureConfig, FeatureSource
from hypercolumns.extract.crop import mean_fill_rgb, preprocess, warp_boxes
from hypercolumns.extract.shared_features import feature_cnn
from hypercolumns.extract.weights import Weights, load_network, resolve_weights

DEFAULT_PADDING = 16
"""Context px on each side of a box at the input size (R-CNN's 16)."""


def cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of /proc/cpuinfo (``model name``, ``flags``), or None
    where there is none or the file is not readable."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def device_name(device) -> str:
    """A readable name of a device: the GPU's, or the CPU model from /proc/cpuinfo."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform
    return cpuinfo("model name") or platform.processor() or "cpu"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class FrozenCNN:
    """A network with its weights, frozen, and the crop geometry of its input.

    Parameters
    ----------
    weights : Weights
    padding : int
        Context pixels on each side of the box at the input size (R-CNN: 16).
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.
    engine : str
        What runs the forward (:mod:`~hypercolumns.extract.engines`): ``torch`` (fp32, the
        default), ``torch-nchw``, ``torch-bf16``, ``onnxruntime``, or ``auto`` (resolved here, on
        this device, by :func:`~hypercolumns.extract.engines.resolve_engine`).
    """

    # how its maps are made, as shards record it; SharedImageCNN's is shared
    feature_source = FeatureSource()

    def __init__(self, weights: Weights, padding: int = DEFAULT_PADDING, device=None, engine: str = "torch",
                 small_box_context: SmallBoxContext = SmallBoxContext()):
        from hypercolumns.extract.engines import OnnxForward, memory_format, resolve_engine

        self.weights = weights
        self.device = torch.device(device) if device is not None else default_device()
        self.engine = resolve_engine(engine, self.device)
        self.network = load_network(weights, self.device)
        self.memory_format = memory_format(self.engine, self.device)
        self.network.to(memory_format=self.memory_format)
        self._onnx = OnnxForward(self.network, self.network.input_size) if self.engine == "onnxruntime" else None
        self.crop_size = self.network.input_size
        self.padding = padding
        self.small_box_context = small_box_context
        self.fill_rgb = mean_fill_rgb(weights.input)

    @property
    def name(self) -> str:
        return self.network.name

    @property
    def per_box(self) -> "FrozenCNN":
        """Itself: the per-box CNN (a SharedImageCNN's is the one it wraps)."""
        return self

    def with_geometry(self, padding: int, small_box_context: SmallBoxContext) -> "FrozenCNN":
        """This network with another crop geometry: the weights, engine and device are shared, not
        loaded again (a second VGG16 is ~0.5 GB), so grids trained with other paddings or small-box
        contexts can run side by side on one network."""
        if (padding, small_box_context) == (self.padding, self.small_box_context):
            return self
        other = copy.copy(self)
        other.padding, other.small_box_context = padding, small_box_context
        return other

    def expand(self, boxes: np.ndarray) -> np.ndarray:
        return expand_boxes(boxes, self.crop_size, self.padding, self.small_box_context)

    def crops(self, image: np.ndarray, expanded_boxes: np.ndarray) -> torch.Tensor:
        """Preprocessed crops of ``expanded_boxes (N, 4)`` -> ``(N, 3, S, S)`` on the CPU.

        ``image`` is uint8 or (the same values) float32; converting it once and
        passing the float32 copy saves the conversion on every call.
        """
        return self.preprocess(self.warp(image, expanded_boxes))

    def warp(self, image: np.ndarray, expanded_boxes: np.ndarray, out: np.ndarray | None = None):
        """Warped RGB 0..255 crops ``(N, S, S, 3)`` float32 (into ``out`` if given), not preprocessed."""
        return warp_boxes(image, expanded_boxes, self.crop_size, self.fill_rgb, out)

    def preprocess(self, warped: np.ndarray) -> torch.Tensor:
        """Warped crops ``(N, S, S, 3)`` -> network input ``(N, 3, S, S)``."""
        return preprocess(warped, self.weights.input)

    @torch.no_grad()
    def forward(self, crops: torch.Tensor, layers: list[str]) -> dict:
        """Layer outputs for a batch of preprocessed crops.

        Maps stay in the network's memory format (``channels_last`` on the
        CPU), which is what sampling units across channels wants; every engine
        gives float32 maps.
        """
        if self._onnx is not None:
            return self._onnx(crops.detach().cpu().float(), layers)
        batch = crops.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        if self.engine == "torch-bf16":
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                outputs = self.network(batch, layers)
            return {name: value.float() for name, value in outputs.items()}
        return self.network(batch, layers)

    def box_outputs(self, image: np.ndarray, expanded_boxes: np.ndarray, layers: list[str]) -> dict:
        """Layer outputs of each box's warped crop: ``forward(crops(image, expanded_boxes), layers)``.

        The per-box path; :class:`hypercolumns.extract.shared_features.SharedImageCNN`
        has the same method on one whole-image forward, so callers can hold either.
        """
        return self.forward(self.crops(image, expanded_boxes), layers)


def frozen_cnn(weights=None, padding: int = DEFAULT_PADDING, device=None, engine: str = "torch",
               small_box_context: SmallBoxContext = SmallBoxContext()) -> FrozenCNN:
    """The frozen CNN of ``weights`` (Weights, a file, or None: the cached ImageNet VGG16)."""
    return FrozenCNN(resolve_weights(weights), padding, device, engine, small_box_context)


def load_cnn(config: FeatureConfig, weights=None, device=None):
    """The CNN that computes ``config``'s features: its padding (and small-box context) and feature source.

    ``weights`` as for :func:`frozen_cnn`; their sha256 must be the config's.
    A :class:`FrozenCNN`, or a :class:`SharedImageCNN` for a shared source.
    """
    weights = resolve_weights(weights)
    check_weights_match(config, weights)
    return feature_cnn(frozen_cnn(weights, config.padding, device, small_box_context=config.small_box_context),
                       config.feature_source)


def check_weights_match(config: FeatureConfig, weights: Weights) -> None:
    """InputError unless ``weights`` are the ones ``config``'s features were made with
    (the weights and the model are both files the user chose)."""
    if config.weights_sha256 != weights.sha256:
        raise InputError(f"the model was trained on features of weights sha256 "
                         f"{config.weights_sha256[:16]}..., but the weights given "
                         f"({weights.source}) have {weights.sha256[:16]}...; pass the weights "
                         "it was trained with")
