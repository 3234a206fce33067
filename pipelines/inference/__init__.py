"""Inference: boxes in, heatmaps and instance masks out.

- :mod:`.engine`: :class:`Engine` (grids with the CNNs they read, each loaded
  once), :func:`grid_heatmaps`, and the per-image loop over a detections list;
- :mod:`.interpolate`: Eq. 3, the one interpolation of the grid's probabilities;
- :mod:`.conv_trick`: the grid as convolutions on the native maps;
- :mod:`.paste`: a heatmap into its image (or a window of it);
- :mod:`.superpixels`: thresholding, per pixel or projected onto superpixels,
  into :class:`BoxMask` windows;
- :mod:`.segment`: :class:`Segmenter` (``set_image`` / ``predict`` / ``segment``)
  and ``hypercolumns segment``;
- :mod:`.viz`: pictures.
"""
from hypercolumns.pipelines.inference.engine import Engine, LoadedGrid, grid_heatmaps
from hypercolumns.pipelines.inference.segment import Segmentation, Segmenter
from hypercolumns.pipelines.inference.superpixels import BoxMask, SuperpixelSettings

__all__ = ["BoxMask", "Engine", "LoadedGrid", "Segmentation", "Segmenter", "SuperpixelSettings",
           "grid_heatmaps"]
