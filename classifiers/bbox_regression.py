"""Class-specific bounding-box regression (R-CNN, Girshick et al. 2014, appendix C).

Boxes are float ``(N, 4)`` ``x0, y0, x1, y1`` in continuous pixel coordinates
(``data.records``): width ``w = x1 - x0``, centre ``x = (x0 + x1) / 2``.  For
a proposal ``P`` and its ground truth ``G`` the regression targets are

    tx = (gx - px) / pw,   ty = (gy - py) / ph,   tw = log(gw / pw),   th = log(gh / ph)

(:func:`box_deltas`; :func:`apply_deltas` is its inverse).

:class:`BoxRegressor` fits one ridge regression per category from a box's
descriptor (the shards' ``global`` block: conv5_3 mean + max, identical at
every location of a box) to the four targets, plus a class-agnostic
``"__all__"`` regressor used for categories it has no regressor of.  Only
boxes whose IoU with their ground truth is at least ``min_iou`` (0.6, as
R-CNN) train it: far-off boxes make the targets a poor, non-linear function
of the descriptor.

Choices
-------
- **Intercept not penalised.** Each regressor is solved in closed form on
  centred features and targets, ``w = (Z'Z + alpha I)^-1 Z'(T - mean T)``,
  ``b = mean T - mean(Z) w``, so ``alpha`` shrinks only the weights.  With fewer
  boxes than features the same ``w`` comes from the dual ``Z'(ZZ' + alpha I)^-1 (T - mean T)``.
- **Standardised features (default).** R-CNN used lambda = 1000 on raw pool5
  features; our descriptor is another layer with other scales, so by default
  every feature is z-scored on the regressor's training boxes
  (``classifiers.standardize.floored_scale``) before the penalty, which makes
  ``alpha`` independent of activation scale: each standardised column adds
  ``n_boxes`` to the diagonal of ``Z'Z``, so ``alpha = 1000`` is mild shrinkage
  for thousands of boxes and strong for tens.  ``standardize=False`` penalises
  the raw features, as R-CNN did.  Either way the stored ``coef_`` and
  ``intercept_`` act on raw features (the standardisation is folded in).
- **Targets not normalised.** Each of the four outputs is its own ridge
  problem with its own unpenalised intercept.
- **Scale clamp.** :func:`apply_deltas` clamps ``tw``, ``th`` at
  ``log(1000 / 16)`` (detectron2's clamp) so a wild prediction cannot
  overflow; below it the two functions are exact inverses.

Model file (HDF5, schema ``hypercolumns.bbox_regression/1``)
-----------------------------------------------------------
Attributes ``schema``, ``alpha``, ``min_iou``, ``class_specific``,
``standardize``, ``min_boxes``, ``categories`` (JSON list, ``"__all__"``
first), ``feature_block``, ``feature_dim``, ``feature_config`` (JSON),
``feature_config_hash``.  Datasets: ``coef`` (C, D, 4) float64 raw-feature
weights, ``intercept`` (C, 4) float64, ``n_boxes`` (C,) int64, in the order of
``categories``.  Written to ``<name>.tmp`` and renamed.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import scipy.linalg
from sklearn.exceptions import NotFittedError

from hypercolumns.classifiers.grid_model import AGNOSTIC
from hypercolumns.classifiers.provenance import check_made_from, record_config, recorded_config
from hypercolumns.classifiers.standardize import floored_scale
from hypercolumns.data.boxes import box_iou
from hypercolumns.data.errors import InputError
from hypercolumns.data.files import atomic_file
from hypercolumns.extract.box_descriptor import read_box_descriptors
from hypercolumns.extract.config import FeatureConfig
from hypercolumns.extract.hdf5_reading import attr_text, open_schema_file

SCHEMA = "hypercolumns.bbox_regression/1"
MAX_LOG_SCALE = float(np.log(1000.0 / 16))


def _boxes(boxes, name: str) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) x0, y0, x1, y1, got {boxes.shape}")
    return boxes


def _centres(boxes: np.ndarray, name: str):
    widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    bad = np.flatnonzero(~((widths > 0) & (heights > 0)))
    if bad.size:
        raise ValueError(f"{name} need positive width and height; rows {bad[:5].tolist()} "
                         f"are {boxes[bad[:5]].tolist()}")
    return boxes[:, 0] + widths / 2, boxes[:, 1] + heights / 2, widths, heights


def box_deltas(proposals, ground_truth) -> np.ndarray:
    """R-CNN regression targets of ``proposals`` towards ``ground_truth``.

    Parameters
    ----------
    proposals, ground_truth : ndarray of shape (N, 4)
        ``x0, y0, x1, y1`` (continuous pixels), positive widths and heights.

    Returns
    -------
    ndarray of shape (N, 4), float64
        ``tx, ty, tw, th`` (see module docstring).
    """
    proposals, ground_truth = _boxes(proposals, "proposals"), _boxes(ground_truth, "ground_truth")
    if proposals.shape != ground_truth.shape:
        raise ValueError(f"proposals {proposals.shape} and ground_truth {ground_truth.shape} "
                         "must have the same shape")
    px, py, pw, ph = _centres(proposals, "proposals")
    gx, gy, gw, gh = _centres(ground_truth, "ground_truth boxes")
    return np.stack([(gx - px) / pw, (gy - py) / ph, np.log(gw / pw), np.log(gh / ph)], axis=1)


def apply_deltas(boxes, deltas, max_log_scale: float = MAX_LOG_SCALE) -> np.ndarray:
    """Move ``boxes`` by ``deltas`` ``tx, ty, tw, th``: the inverse of :func:`box_deltas`.

    Parameters
    ----------
    boxes : ndarray of shape (N, 4)
        ``x0, y0, x1, y1``, positive widths and heights.
    deltas : ndarray of shape (N, 4)
    max_log_scale : float
        ``tw`` and ``th`` are clamped to at most this (``log(1000/16)``).

    Returns
    -------
    ndarray of shape (N, 4), float64
        Refined boxes, same frame.
    """
    boxes = _boxes(boxes, "boxes")
    deltas = _boxes(deltas, "deltas")
    if boxes.shape != deltas.shape:
        raise ValueError(f"boxes {boxes.shape} and deltas {deltas.shape} must have the same shape")
    px, py, pw, ph = _centres(boxes, "boxes")
    cx, cy = px + deltas[:, 0] * pw, py + deltas[:, 1] * ph
    half_w = pw * np.exp(np.minimum(deltas[:, 2], max_log_scale)) / 2
    half_h = ph * np.exp(np.minimum(deltas[:, 3], max_log_scale)) / 2
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)


def ridge_fit(features: np.ndarray, targets: np.ndarray, alpha: float, standardize: bool = True):
    """Closed-form ridge regression with an unpenalised intercept.

    Parameters
    ----------
    features : ndarray of shape (n, D)
    targets : ndarray of shape (n, T)
    alpha : float
        > 0; penalty on the (standardised if ``standardize``) weights.

    Returns
    -------
    coef : ndarray of shape (D, T), float64
        Weights on the raw features.
    intercept : ndarray of shape (T,), float64
    """
    x = np.asarray(features, np.float64)
    t = np.asarray(targets, np.float64)
    mean = x.mean(axis=0)
    scale = floored_scale(x.std(axis=0)) if standardize else np.ones(x.shape[1])
    z = (x - mean) / scale
    t_mean = t.mean(axis=0)
    if z.shape[0] < z.shape[1]:
        # fewer boxes than dims (a class's ~100 boxes, 4,608 spatial values): the dual form
        # z^T (z z^T + alpha I)^-1 t is the same solution with an n x n system instead of D x D
        # (the push-through identity), ~(D/n)^2 times cheaper
        kernel = z @ z.T
        kernel[np.diag_indices_from(kernel)] += alpha
        weights = z.T @ scipy.linalg.solve(kernel, t - t_mean, assume_a="pos")
    else:
        gram = z.T @ z
        gram[np.diag_indices_from(gram)] += alpha
        weights = scipy.linalg.solve(gram, z.T @ (t - t_mean), assume_a="pos")
    coef = weights / scale[:, None]
    return coef, t_mean - mean @ coef


class BoxRegressor:
    """Per-category ridge regressions from a box descriptor to R-CNN box deltas.

    Parameters
    ----------
    alpha : float
        Ridge penalty (> 0) on the weights; the intercept is not penalised.
    min_iou : float
        Boxes train a regressor only if their IoU with their ground truth is
        at least this.
    class_specific : bool
        One regressor per category (plus ``"__all__"``); False: ``"__all__"`` only.
    standardize : bool
        Penalise z-scored features (default) rather than raw ones; see the
        module docstring.
    min_boxes : int
        A category with fewer training boxes gets no regressor of its own
        and uses ``"__all__"``.

    Attributes
    ----------
    categories_ : list of str
        ``"__all__"`` first, then the categories with a regressor, sorted.
    coef_ : dict of str to ndarray of shape (n_features, 4), float64
        Raw-feature weights of each regressor (standardisation folded in).
    intercept_ : dict of str to ndarray of shape (4,), float64
    n_boxes_ : dict of str to int
        Training boxes of each regressor.
    n_features_in_ : int
    feature_config_ : FeatureConfig or None
        The feature config the descriptors were made with (None if not given).
    feature_block_ : str
        The hypercolumn block the descriptor is (``""`` if not given).
    """

    def __init__(self, alpha: float = 1000.0, min_iou: float = 0.6, class_specific: bool = True,
                 standardize: bool = True, min_boxes: int = 10):
        self.alpha = alpha
        self.min_iou = min_iou
        self.class_specific = class_specific
        self.standardize = standardize
        self.min_boxes = min_boxes

    def fit(self, features, proposals, ground_truth, categories, ious, *,
            feature_config: FeatureConfig | None = None, feature_block: str = ""):
        """Fit on boxes with ``ious >= min_iou``.

        Parameters
        ----------
        features : ndarray of shape (N, D)
            One descriptor per box, any float dtype.
        proposals : ndarray of shape (N, 4)
            The boxes the descriptors describe, ``x0, y0, x1, y1``.
        ground_truth : ndarray of shape (N, 4)
            Each box's ground truth; rows of boxes below ``min_iou`` are not
            read (may be NaN).
        categories : array-like of shape (N,), str
        ious : ndarray of shape (N,)
            IoU of each proposal with its ground truth.
        feature_config : FeatureConfig, optional
            Recorded in the model file (with its ``config_hash``).
        feature_block : str, optional
            Recorded in the model file.
        """
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha!r}")
        features = np.asarray(features)
        if features.ndim != 2:
            raise ValueError(f"features must be 2-D (n_boxes, n_features), got shape "
                             f"{features.shape}")
        n = features.shape[0]
        proposals = _boxes(proposals, "proposals")
        ground_truth = _boxes(ground_truth, "ground_truth")
        categories = np.asarray(categories, dtype=object).reshape(-1)
        ious = np.asarray(ious, np.float64).reshape(-1)
        lengths = {"proposals": len(proposals), "ground_truth": len(ground_truth),
                   "categories": len(categories), "ious": len(ious)}
        wrong = {name: length for name, length in lengths.items() if length != n}
        if wrong:
            raise ValueError(f"features has {n} rows but {wrong} (one row per box expected)")
        if AGNOSTIC in set(categories):
            raise ValueError(f"{AGNOSTIC!r} is reserved for the class-agnostic regressor")
        keep = np.flatnonzero(ious >= self.min_iou)
        if keep.size == 0:   # the data's, or --min-iou's, doing
            raise InputError(f"no box has IoU >= min_iou = {self.min_iou} with its ground truth "
                             f"(of {n}; highest {ious.max() if n else float('nan'):.3f}); "
                             "lower min_iou or check the ground-truth boxes")
        x = np.asarray(features[keep], np.float64)
        targets = box_deltas(proposals[keep], ground_truth[keep])
        kept_categories = categories[keep]
        groups = {AGNOSTIC: np.arange(keep.size)}
        if self.class_specific:
            for category in sorted(set(kept_categories)):
                rows = np.flatnonzero(kept_categories == category)
                if rows.size >= self.min_boxes:
                    groups[category] = rows
        self.coef_, self.intercept_, self.n_boxes_ = {}, {}, {}
        for category, rows in groups.items():
            coef, intercept = ridge_fit(x[rows], targets[rows], self.alpha, self.standardize)
            self.coef_[category], self.intercept_[category] = coef, intercept
            self.n_boxes_[category] = int(rows.size)
        self.categories_ = list(groups)
        self.n_features_in_ = features.shape[1]
        self.feature_config_ = feature_config
        self.feature_block_ = str(feature_block)
        return self

    def regressor_of(self, category) -> str:
        """The regressor ``category`` uses: its own, or ``"__all__"``."""
        self._check_fitted()
        return category if category in self.coef_ else AGNOSTIC

    def predict_deltas(self, features, categories=None) -> np.ndarray:
        """Deltas ``tx, ty, tw, th`` of each box.

        Parameters
        ----------
        features : ndarray of shape (N, D)
        categories : array-like of shape (N,) of str, a str, or None
            Categories without a regressor (and None) use ``"__all__"``.

        Returns
        -------
        ndarray of shape (N, 4), float64
        """
        self._check_fitted()
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.n_features_in_:
            raise ValueError(f"features must have shape (N, {self.n_features_in_}), got "
                             f"{features.shape}")
        n = features.shape[0]
        if categories is None or isinstance(categories, str):
            categories = np.full(n, categories or AGNOSTIC, dtype=object)
        categories = np.asarray(categories, dtype=object).reshape(-1)
        if categories.shape[0] != n:
            raise ValueError(f"features has {n} rows but categories has {categories.shape[0]}")
        regressor = np.array([self.regressor_of(c) for c in categories], dtype=object)
        deltas = np.zeros((n, 4))
        for name in set(regressor):
            rows = np.flatnonzero(regressor == name)
            deltas[rows] = np.asarray(features[rows], np.float64) @ self.coef_[name] \
                + self.intercept_[name]
        return deltas

    def transform(self, features, boxes, categories=None) -> np.ndarray:
        """Refined boxes: ``apply_deltas(boxes, predict_deltas(features, categories))``, (N, 4)."""
        return apply_deltas(boxes, self.predict_deltas(features, categories))

    def save(self, path) -> Path:
        """Write the fitted model to ``path`` (HDF5, atomically); returns the path."""
        self._check_fitted()
        path = Path(path)
        with atomic_file(path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["schema"] = SCHEMA
            for name in ("alpha", "min_iou", "min_boxes"):
                f.attrs[name] = getattr(self, name)
            f.attrs["class_specific"] = int(bool(self.class_specific))
            f.attrs["standardize"] = int(bool(self.standardize))
            f.attrs["categories"] = json.dumps(self.categories_)
            f.attrs["feature_block"] = self.feature_block_
            f.attrs["feature_dim"] = int(self.n_features_in_)
            record_config(f.attrs, self.feature_config_)
            f.create_dataset("coef", data=np.stack([self.coef_[c] for c in self.categories_]))
            f.create_dataset("intercept",
                             data=np.stack([self.intercept_[c] for c in self.categories_]))
            f.create_dataset("n_boxes", data=np.array([self.n_boxes_[c] for c in self.categories_],
                                                      np.int64))
        return path

    @classmethod
    def load(cls, path, expected_config=None) -> "BoxRegressor":
        """Read a model file.

        Parameters
        ----------
        expected_config : FeatureConfig, or str (its hash), optional
            The feature config the caller computes descriptors with; a model
            trained on features of another config is refused.

        Raises
        ------
        MissingFileError
            No file at ``path``.
        InputError
            Not a box-regression file, a damaged one, or trained on another
            feature config; the message names the file.
        """
        path = Path(path)
        with open_schema_file(path, SCHEMA, "box regressor") as f:
            stored = recorded_config(f.attrs)
            feature_config = FeatureConfig.from_dict(stored) if stored else None
            if expected_config is not None:
                check_made_from(path, feature_config, expected_config,
                                "retrain the box regressor on shards of this config")
            model = cls(alpha=float(f.attrs["alpha"]), min_iou=float(f.attrs["min_iou"]),
                        class_specific=bool(f.attrs["class_specific"]),
                        standardize=bool(f.attrs["standardize"]),
                        min_boxes=int(f.attrs["min_boxes"]))
            model.categories_ = json.loads(attr_text(f.attrs["categories"]))
            coef, intercept, n_boxes = f["coef"][:], f["intercept"][:], f["n_boxes"][:]
            model.feature_block_ = attr_text(f.attrs["feature_block"])
        model.coef_ = dict(zip(model.categories_, coef))
        model.intercept_ = dict(zip(model.categories_, intercept))
        model.n_boxes_ = {c: int(n) for c, n in zip(model.categories_, n_boxes)}
        model.n_features_in_ = int(coef.shape[1])
        model.feature_config_ = feature_config
        return model

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("this BoxRegressor is not fitted yet; call fit(features, "
                                 "proposals, ground_truth, categories, ious) or "
                                 "fit_from_shards(...) first")


def fit_from_shards(shard_paths, ground_truth_boxes: dict, block: str = "global",
                    iou_tolerance: float | None = 0.02, **params) -> BoxRegressor:
    """Fit a :class:`BoxRegressor` on the boxes of stage-one shards.

    Parameters
    ----------
    shard_paths : sequence of path
    ground_truth_boxes : dict of (image_id, instance index) to box
        Each labelling instance's box ``x0, y0, x1, y1`` (the shards hold
        only its index).  Boxes below ``min_iou`` need no entry.
    block : str
        The descriptor block (``"global"``: conv5_3 mean + max).
    iou_tolerance : float or None
        Refuse ground truth whose IoU with a box differs from the shard's
        ``iou`` by more than this (a wrong instance mapping); None: no check.
    **params
        :class:`BoxRegressor` parameters.

    Returns
    -------
    BoxRegressor
        Fitted; records the shards' feature config and ``block``.
    """
    model = BoxRegressor(**params)
    data = read_box_descriptors(shard_paths, block)
    ground_truth = np.full((len(data["iou"]), 4), np.nan)
    missing, mismatched = [], []
    for i in np.flatnonzero(data["iou"] >= model.min_iou):
        key = (data["image_id"][i], int(data["instance"][i]))
        if key not in ground_truth_boxes:
            missing.append(f"{key} ({data['shard'][i]})")
            continue
        ground_truth[i] = np.asarray(ground_truth_boxes[key], np.float64).reshape(4)
        if iou_tolerance is not None:
            iou = box_iou(data["box"][i], ground_truth[i])[0, 0]
            if abs(iou - data["iou"][i]) > iou_tolerance:
                mismatched.append(f"{key} ({data['shard'][i]}): shard IoU "
                                  f"{data['iou'][i]:.3f}, with the given box {iou:.3f}")
    # the shards were made from other annotations than the ones given (another --data-root)
    if missing:
        raise InputError(f"ground_truth_boxes has no box for {len(missing)} training boxes, "
                         f"e.g. {', '.join(missing[:3])}; keys are (image_id, instance index)")
    if mismatched:
        raise InputError(f"ground_truth_boxes disagree with the shards for {len(mismatched)} "
                         f"boxes, e.g. {'; '.join(mismatched[:3])}; is the instance index "
                         "mapped to the right box?")
    return model.fit(data["features"], data["box"], ground_truth, data["category"], data["iou"],
                     feature_config=data["config"], feature_block=block)
