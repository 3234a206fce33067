"""The inference engine: grids with the CNNs whose features they read, and the per-image loop.

Every user of trained grids goes through here — :class:`~hypercolumns.pipelines.inference.segment.Segmenter`
(one grid), ``hypercolumns segment``, and every experiment (many grids at once):

- :class:`Engine` loads each network once per weights (shared by every crop geometry: padding, small-box context), each
  feature CNN (per-box crops or shared whole-image maps) once per feature
  source, and each grid once, checking that a grid meets the features it was
  trained on;
- :meth:`Engine.heatmaps` runs the CNN once per box for all grids that read
  it, and each grid as the conv trick on the same maps;
- :func:`images_of_detections` is the loop over the images of a detections
  list: each image read once, its detections' boxes as ``x0, y0, x1, y1``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hypercolumns.classifiers.model_file import load_grid
from hypercolumns.data.boxes import xywh_to_xyxy
from hypercolumns.data.errors import InputError
from hypercolumns.data.images import read_image
from hypercolumns.extract.candidate_features import candidate_inputs
from hypercolumns.extract.cnn import check_weights_match, frozen_cnn
from hypercolumns.extract.shared_features import feature_cnn
from hypercolumns.extract.weights import resolve_weights
from hypercolumns.pipelines.inference.profile import count_boxes, timed
from hypercolumns.pipelines.inference.conv_trick import ConvTrickPredictor


@dataclass
class LoadedGrid:
    """A trained grid, its conv-trick predictor and the CNN whose features it reads."""

    path: Path
    model: object          # GridModel
    predictor: ConvTrickPredictor
    cnn: object            # FrozenCNN or SharedImageCNN

    @property
    def layers(self) -> list:
        """The network layers the grid's layer spec reads."""
        return self.model.spec.network_layers(self.cnn.name)

    @property
    def needs_candidates(self) -> bool:
        """Whether the grid refines region candidates (System 1's blocks in its spec)."""
        return self.model.spec.needs_candidates


class Engine:
    """Grids and the CNNs they read, each loaded once.

    Parameters
    ----------
    weights : str or Path, optional
        Weights for models that name none (default: the cached ImageNet VGG16).
    device : str, optional
        Default: CUDA when available, else CPU.
    batch_size : int
        Boxes per CNN forward.
    engine : str
        What runs the CNN's forward (:mod:`~hypercolumns.extract.engines`; default fp32 torch).
    """

    def __init__(self, weights=None, device=None, batch_size: int = 16, engine: str = "torch"):
        self.weights, self.device, self.batch_size, self.engine = weights, device, batch_size, engine
        self._networks: dict = {}   # weights sha256 -> FrozenCNN (one copy of the weights for any geometry)
        self._cnns: dict = {}       # (weights sha256, padding, small-box context, feature source) -> feature CNN
        self._grids: dict = {}      # (model path, weights) -> LoadedGrid

    def cnn(self, config, weights=None):
        """The feature CNN a stage-one ``config`` describes, built once; ``weights`` override the engine's.

        One network per weights serves every crop geometry (padding, small-box context) and
        feature source (per-box crops, shared whole-image maps).
        """
        key = (config.weights_sha256, config.padding, config.small_box_context, str(config.feature_source))
        if key not in self._cnns:
            if config.weights_sha256 not in self._networks:
                loaded = resolve_weights(weights or self.weights)
                check_weights_match(config, loaded)
                self._networks[config.weights_sha256] = frozen_cnn(loaded, config.padding, self.device,
                                                                   self.engine, config.small_box_context)
            network = self._networks[config.weights_sha256].with_geometry(config.padding, config.small_box_context)
            self._cnns[key] = feature_cnn(network, config.feature_source)
        return self._cnns[key]

    def grid(self, model_path, weights=None) -> LoadedGrid:
        """The grid file ``model_path`` with its CNN.

        The weights are ``weights`` if given, else those a fine-tuned grid names
        (saved beside it), else the engine's.
        """
        key = (str(model_path), str(weights))
        if key not in self._grids:
            model = load_grid(model_path)
            config = model.feature_config
            if weights is None and model.info.get("weights_file"):
                weights = Path(model_path).parent / model.info["weights_file"]
            cnn = self.cnn(config, weights)
            if cnn.crop_size != config.crop_size or cnn.name != config.network:
                raise InputError(f"{model_path}: made for {config.network} at {config.crop_size} "
                                 f"px, the weights are {cnn.name} at {cnn.crop_size} px")
            self._grids[key] = LoadedGrid(Path(model_path), model, ConvTrickPredictor(model, cnn.name), cnn)
        return self._grids[key]

    def heatmaps(self, image: np.ndarray, boxes: np.ndarray, categories: list, grids: list,
                 candidates: np.ndarray | None = None) -> list:
        """:func:`grid_heatmaps` in batches of the engine's ``batch_size``."""
        return grid_heatmaps(image, boxes, categories, grids, candidates, self.batch_size)


def grid_heatmaps(image: np.ndarray, boxes: np.ndarray, categories: list, grids: list,
                  candidates: np.ndarray | None = None, batch_size: int = 16) -> list:
    """Each grid's interpolated probabilities ``(N, 50, 50)`` for ``boxes (N, 4)`` of ``image``.

    The CNN runs once per box for all grids that read it. ``candidates``
    (``(N, H, W)`` bool) feed the grids with candidate blocks.
    """
    heatmaps: list = [None] * len(grids)
    by_cnn: dict = {}
    for index, grid in enumerate(grids):
        by_cnn.setdefault(id(grid.cnn), []).append(index)
    for indices in by_cnn.values():
        cnn = grids[indices[0]].cnn
        layers = sorted({layer for i in indices for layer in grids[i].layers})
        expanded = cnn.expand(boxes)
        maps: dict = {i: [] for i in indices}
        for start in range(0, len(boxes), batch_size):
            batch = slice(start, start + batch_size)
            with timed("cnn"):
                outputs = cnn.box_outputs(image, expanded[batch], layers)
            if candidates is not None and any(grids[i].needs_candidates for i in indices):
                outputs.update(candidate_inputs(candidates[batch], expanded[batch], cnn.device))
            with timed("conv trick"):
                for i in indices:
                    maps[i].append(grids[i].predictor(outputs, categories[batch]).cpu().numpy())
        count_boxes(len(boxes))
        size = grids[indices[0]].model.feature_config.heatmap_size
        for i in indices:
            heatmaps[i] = np.concatenate(maps[i]) if maps[i] else np.zeros((0, size, size), np.float32)
    return heatmaps


def images_of_detections(detections: list, image_file, show_progress: bool = True,
                         described_in: str = "the annotations"):
    """The loop over the images of a COCO results list, each image read once.

    ``image_file(image_id)`` gives the image's path and its expected ``(H, W)``
    (or None), as ``described_in`` (a file name, for errors) lists it. Yields ``(image_id, image, indices, boxes)``: the detections'
    indices into the list and their boxes ``(n, 4)`` as ``x0, y0, x1, y1``.
    """
    by_image: dict = {}
    for index, entry in enumerate(detections):
        by_image.setdefault(entry["image_id"], []).append(index)
    # a bar on a terminal only (disable=None), closed (and cleared) before an error propagates,
    # so that a refused input ends in its one error line
    with tqdm(by_image.items(), desc="segment", unit="image", leave=False,
              disable=None if show_progress else True) as images:
        for image_id, indices in images:
            path, expected_hw = image_file(image_id)
            with timed("read"):
                image = read_image(path)
            if expected_hw is not None and image.shape[:2] != tuple(expected_hw):
                raise InputError(f"{path} is {image.shape[1]}x{image.shape[0]}, {described_in} says "
                                 f"{expected_hw[1]}x{expected_hw[0]}")
            yield image_id, image, indices, xywh_to_xyxy([detections[i]["bbox"] for i in indices])
