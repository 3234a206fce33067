"""Stage two: the K x K grid of liblinear logistic regressions over hypercolumns."""
from hypercolumns.classifiers.feature_blocks import select_blocks
from hypercolumns.classifiers.grid import cell_of_location, train_grid
from hypercolumns.classifiers.grid_model import AGNOSTIC, GridModel
from hypercolumns.classifiers.liblinear_fit import (BIAS_FEATURE, LogisticFit, constant_fit,
                                                   fit_logistic, fit_logistic_path,
                                                   liblinear_options)
from hypercolumns.classifiers.model_file import load_grid, save_grid
from hypercolumns.classifiers.provenance import made_from, trained_here
from hypercolumns.classifiers.rows import RowIndex, heldout_images
from hypercolumns.classifiers.standardize import (Standardization, standardization_from_shards,
                                                  standardization_of, standardize)
from hypercolumns.classifiers.train import TrainOptions, train_grids

__all__ = [
    "AGNOSTIC", "BIAS_FEATURE", "GridModel", "LogisticFit", "RowIndex",
    "Standardization", "TrainOptions", "cell_of_location", "constant_fit", "fit_logistic",
    "fit_logistic_path", "heldout_images", "liblinear_options", "load_grid", "made_from",
    "save_grid", "select_blocks", "standardization_from_shards", "standardization_of",
    "standardize", "train_grid", "train_grids", "trained_here",
]
