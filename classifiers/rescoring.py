"""Region rescoring (the paper's §4.2, after SDS): a linear SVM per class on region descriptors.

Region descriptor
-----------------
Computed in :mod:`hypercolumns.pipelines.system2.region_descriptor`.
SDS scores a region with two networks, one on the box and one on the region
with its background masked out.  Here one frozen CNN serves both pathways:

- the **box** pathway is the ordinary stage-one crop of the expanded box
  (:meth:`FrozenCNN.crops`);
- the **region** pathway is the same crop with every pixel outside the
  predicted mask set to the network's mean colour, so that after mean
  subtraction it is exactly zero.

Each crop goes through the network and gives its global descriptor (spatial
mean and max of the top conv map, :func:`global_descriptor`, ``D`` values);
the descriptor of a region is ``[region (D), box (D)]``, ``2 * D`` values.

Mask warping: the mask is warped with the image crop's geometry
(:mod:`hypercolumns.extract.crop`) by **nearest neighbour**: crop pixel
``(v, u)`` samples the image at continuous ``(x0 + (u + 0.5) * w / S,
y0 + (v + 0.5) * h / S)`` and takes the mask value of the image pixel that
contains that point (pixel ``(r, c)`` covers ``[c, c + 1) x [r, r + 1)``);
points outside the image are background.  The image itself is warped
bilinearly, so crop pixels on the mask's edge blend object and background
colours; that is the image's content, not a leak of the fill.  The masked-out
pixels of the preprocessed tensor are then set to 0 explicitly: for Caffe
(BGR 0..255) weights the mean colour already preprocesses to exactly 0, for
torchvision weights float32 rounding of ``mean / scale`` leaves ~1e-8.

Rescorer
--------
:class:`RegionRescorer` fits, per class, an L2-regularised L2-loss linear SVM
with liblinear (dual, ``-s 1``, by default: the descriptors are wide,
2,048 values for VGG16, and the dual's cost grows with rows not dims; primal
``-s 2`` on request)::

    min_w  0.5 * ||w||^2 + C * sum_i max(0, 1 - s_i * w . [z_i; B])^2

on standardised descriptors ``z`` (:mod:`hypercolumns.classifiers.standardize`),
with the bias as in :mod:`hypercolumns.classifiers.liblinear_fit`: a penalised
constant feature ``B = 100`` (``BIAS_FEATURE``; scikit-learn's
``intercept_scaling=100``), so the intercept costs only ``0.5 * (b / 100)^2``.

Labels (:func:`rescoring_labels`): a predicted mask is positive for its class
when its mask IoU to a ground-truth instance of that class is > 0.7, negative
when < 0.5, ignored in between.

Hard-negative mining (a simple version of R-CNN's): train on every positive
and a random subset of ``initial_negatives`` negatives; then, ``mining_rounds``
times (2), score every negative, add those not yet used whose decision value
is > -1 (inside the margin or on the wrong side: their hinge loss is non-zero)
and retrain; stop early when a round adds none.

Combining with the detector (:meth:`RegionRescorer.fit_combiner`): the
detector's score carries what the box classifier saw, which the region SVM
alone throws away.  A two-feature logistic regression, ``P(IoU > 0.7) =
sigmoid(a * logit(detection score) + b * SVM margin + c)``, is fitted on the
training regions with *cross-fitted* margins (the SVMs refitted on each half
of the training images score the other half), so that it weighs the margins
as they behave on unseen images; :meth:`RegionRescorer.score` gives that
probability.  This stacking is ours (SDS's region classifier was itself the
detector); README, Deviations.  ``combiner="margin"`` leaves the detector out:
``sigmoid(b * margin + c)``, the SVM's own ranking, calibrated.  Which of the two,
and C and class-specificity, are chosen on the training images' pools
(:mod:`hypercolumns.pipelines.experiments.rescoring_cv`).

Categories: a class with positives and negatives among the training rows gets
its own SVM; the class-agnostic SVM (``__all__``, trained the same way on all
rows) scores every other category (unseen, or one-class in training), and every
category when ``class_specific=False``.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from hypercolumns.classifiers.liblinear_fit import (BIAS_FEATURE, liblinear_options, liblinear_rows,
                                                   train_class1)
from hypercolumns.classifiers.model_file import json_default
from hypercolumns.classifiers.provenance import check_made_from, record_config, recorded_config
from hypercolumns.classifiers.standardize import standardization_of, standardize
from hypercolumns.data.errors import InputError
from hypercolumns.data.files import atomic_file
from hypercolumns.extract.hdf5_reading import attr_text, open_schema_file

SCHEMA = "hypercolumns.rescorer/1"
AGNOSTIC = "__all__"
POSITIVE_IOU = 0.7
NEGATIVE_IOU = 0.5
IGNORED = -1
HARD_SCORE = -1.0
SVM_SOLVERS = {"dual": 1, "primal": 2}
SVM_TOLERANCE = {"dual": 0.1, "primal": 0.01}  # liblinear's defaults for -s 1 / -s 2
COMBINERS = ("margin+detection", "margin")
"""What :meth:`RegionRescorer.fit_combiner` feeds its logistic regression: the SVM margin with the
detector's logit, or the margin alone."""


# --------------------------------------------------------------------------- labels, SVM

def rescoring_labels(ious: np.ndarray, positive: float = POSITIVE_IOU,
                     negative: float = NEGATIVE_IOU) -> np.ndarray:
    """Training labels from mask IoUs.

    Parameters
    ----------
    ious : ndarray of shape (N,), float
        Each predicted mask's best mask IoU to a ground-truth instance of its class
        (0 where the image has none).

    Returns
    -------
    ndarray of shape (N,), int8
        1 where IoU > ``positive``, 0 where IoU < ``negative``, -1 (ignored) between.
    """
    ious = np.asarray(ious, np.float64)
    if ious.ndim != 1:
        raise ValueError(f"ious must be 1-D (one per region), got shape {ious.shape}")
    labels = np.full(ious.shape, IGNORED, np.int8)
    labels[ious > positive] = 1
    labels[ious < negative] = 0
    return labels


def svm_options(C: float, solver: str = "dual", bias: float = BIAS_FEATURE,
                tol: float | None = None) -> str:
    """liblinear options of one L2-loss SVM fit (recorded with the model)."""
    return liblinear_options(C, solver, bias, tol, SVM_SOLVERS, SVM_TOLERANCE)


def fit_svm(features: np.ndarray, labels: np.ndarray, options: str,
            seed: int = 0) -> tuple[np.ndarray, float]:
    """One liblinear SVM; ``features (n, D)`` standardised, ``labels (n,)`` in {0, 1}, both present.

    Returns ``coef (D,)`` float64 and the intercept, for class 1.
    """
    return train_class1(liblinear_rows(features, labels), options, seed)


def mine_hard_negatives(scores: np.ndarray, used: np.ndarray,
                        threshold: float = HARD_SCORE) -> np.ndarray:
    """Negatives to add: not ``used (n,) bool`` and ``scores (n,)`` > ``threshold``; bool (n,)."""
    return ~np.asarray(used, bool) & (np.asarray(scores) > threshold)


def fit_with_mining(z: np.ndarray, labels: np.ndarray, options: str, *, initial_negatives: int,
                    rounds: int, rng: np.random.Generator) -> tuple[np.ndarray, float, dict]:
    """Fit on positives plus a random subset of negatives, then mine hard negatives.

    Parameters
    ----------
    z : ndarray of shape (n, D), float32, standardised
    labels : ndarray of shape (n,), values in {0, 1}, both present

    Returns
    -------
    coef : ndarray of shape (D,), float64
    intercept : float
    facts : dict
        ``n_positive``, ``n_negative``, ``initial_negatives``, ``added`` (one count
        per round run), ``negatives_used`` (indices into the negatives).
    """
    positives, negatives = z[labels == 1], z[labels == 0]
    used = np.zeros(len(negatives), bool)
    used[rng.permutation(len(negatives))[:initial_negatives]] = True
    facts = {"n_positive": len(positives), "n_negative": len(negatives),
             "initial_negatives": int(used.sum()), "added": []}
    coef, intercept = _fit_used(positives, negatives, used, options)
    for _ in range(rounds):
        new = mine_hard_negatives(negatives @ coef + intercept, used)
        facts["added"].append(int(new.sum()))
        if not new.any():
            break
        used |= new
        coef, intercept = _fit_used(positives, negatives, used, options)
    facts["negatives_used"] = np.flatnonzero(used)
    return coef, intercept, facts


def _fit_used(positives, negatives, used, options):
    rows = np.concatenate([positives, negatives[used]])
    labels = np.r_[np.ones(len(positives)), np.zeros(int(used.sum()))]
    return fit_svm(rows, labels, options)


# --------------------------------------------------------------------------- the rescorer

class RegionRescorer:
    """Linear SVMs over region descriptors, one per class plus a class-agnostic one.

    Parameters
    ----------
    C : float
        liblinear's C (weight of the summed squared hinge); R-CNN's 1e-3, not tuned here.
    class_specific : bool
        False: only the agnostic SVM is fitted and used.
    solver : {"dual", "primal"}
        liblinear ``-s 1`` or ``-s 2``.
    bias : float
        Bias feature value (``-B``), penalised; see the module docstring.
    tol : float, optional
        ``-e``; liblinear's default for the solver if None.
    initial_negatives : int
        Random negatives per class before mining.
    mining_rounds : int
        Rounds of "score all negatives, add those > -1, retrain".
    positive_iou, negative_iou : float
        Label thresholds (:func:`rescoring_labels`).
    combiner : {"margin+detection", "margin"}
        The inputs of :meth:`fit_combiner`'s logistic regression (:data:`COMBINERS`).
    seed : int
        Seeds the negative subset and liblinear's coordinate order.

    Attributes (set by :meth:`fit`)
    -------------------------------
    mean_, scale_ : ndarray of shape (2 * D,), float64
        Standardisation ``z = (descriptor - mean_) / scale_``.
    coef_ : dict of category -> ndarray of shape (2 * D,), float64
        Standardised-space weights; ``"__all__"`` is the agnostic SVM.
    intercept_ : dict of category -> float
    feature_config_ : dict
        :func:`region_feature_config` of the descriptors (``{}`` if not given).
    info_ : dict
        Per SVM: ``n_positive``, ``n_negative``, ``initial_negatives``, ``added``;
        ``fallback``: categories seen in training scored by the agnostic SVM.
    """

    def __init__(self, C: float = 1e-3, class_specific: bool = True, *, solver: str = "dual",
                 bias: float = BIAS_FEATURE, tol: float | None = None,
                 initial_negatives: int = 1000, mining_rounds: int = 2,
                 positive_iou: float = POSITIVE_IOU, negative_iou: float = NEGATIVE_IOU,
                 combiner: str = "margin+detection", seed: int = 0):
        if combiner not in COMBINERS:
            raise ValueError(f"combiner must be one of {COMBINERS}, got {combiner!r}")
        self.C, self.class_specific, self.solver, self.bias, self.tol = (
            C, class_specific, solver, bias, tol)
        self.initial_negatives, self.mining_rounds = initial_negatives, mining_rounds
        self.positive_iou, self.negative_iou, self.seed = positive_iou, negative_iou, seed
        self.combiner = combiner

    def params(self) -> dict:
        return {key: getattr(self, key) for key in (
            "C", "class_specific", "solver", "bias", "tol", "initial_negatives",
            "mining_rounds", "positive_iou", "negative_iou", "combiner", "seed")}

    def fit(self, descriptors: np.ndarray, categories, ious: np.ndarray,
            feature_config: dict | None = None) -> "RegionRescorer":
        """Fit the SVMs.

        Parameters
        ----------
        descriptors : ndarray of shape (N, 2 * D), float (:func:`region_descriptors`)
        categories : sequence of N str
            Each region's predicted category.
        ious : ndarray of shape (N,), float
            Each predicted mask's best mask IoU to a ground-truth instance of its category.
        feature_config : dict, optional
            :func:`region_feature_config` of the network that made the descriptors.
        """
        descriptors, categories = _checked_rows(descriptors, categories)
        labels = rescoring_labels(ious, self.positive_iou, self.negative_iou)
        if labels.shape != categories.shape:
            raise ValueError(f"ious must have shape ({len(categories)},), got {labels.shape}")
        options = svm_options(self.C, self.solver, self.bias, self.tol)
        standardization = standardization_of(descriptors)
        z = standardize(descriptors, standardization.mean, standardization.scale)
        self.coef_, self.intercept_, self.info_ = {}, {}, {"options": options, "fallback": []}
        for name, rows in self._groups(categories, labels).items():
            if not 0 < labels[rows].sum() < rows.sum():
                if name == AGNOSTIC:
                    counts = np.bincount(labels[rows], minlength=2).tolist()
                    # the data's doing: its regions overlap the ground truth too little or too much
                    raise InputError(f"the training regions need positives (IoU > "
                                     f"{self.positive_iou}) and negatives (IoU < "
                                     f"{self.negative_iou}); got [negatives, positives] {counts}")
                self.info_["fallback"].append(name)
                continue
            rng = np.random.default_rng([self.seed, len(self.coef_)])
            coef, intercept, facts = fit_with_mining(
                z[rows], labels[rows], options, initial_negatives=self.initial_negatives,
                rounds=self.mining_rounds, rng=rng)
            self.coef_[name], self.intercept_[name], self.info_[name] = coef, intercept, facts
        self.mean_, self.scale_ = standardization.mean, standardization.scale
        self.feature_config_ = dict(feature_config or {})
        return self

    def _groups(self, categories: np.ndarray, labels: np.ndarray) -> dict:
        """SVM name -> bool (N,) of its labelled training rows; the agnostic SVM first."""
        labelled = labels != IGNORED
        groups = {AGNOSTIC: labelled}
        if self.class_specific:
            groups.update({c: (categories == c) & labelled for c in np.unique(categories)})
        return groups

    def decision_function(self, descriptors: np.ndarray, categories) -> np.ndarray:
        """SVM scores of ``descriptors (N, 2 * D)``: shape (N,), float64.

        Each row is scored by its category's SVM, else (unseen category,
        fallback, or ``class_specific=False``) by the agnostic one.
        """
        if not hasattr(self, "coef_"):
            raise ValueError("this RegionRescorer is not fitted yet; call fit(...) or "
                             "RegionRescorer.load(path) first")
        descriptors, categories = _checked_rows(descriptors, categories)
        if descriptors.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"descriptors have {descriptors.shape[1]} values, the rescorer was "
                             f"fitted on {self.mean_.shape[0]} (another network or descriptor?)")
        z = standardize(descriptors, self.mean_, self.scale_).astype(np.float64)
        scores = np.empty(len(z))
        for category in np.unique(categories):
            rows = categories == category
            name = category if self.class_specific and category in self.coef_ else AGNOSTIC
            scores[rows] = z[rows] @ self.coef_[name] + self.intercept_[name]
        return scores

    def fit_combiner(self, descriptors: np.ndarray, categories, ious: np.ndarray,
                     detection_scores: np.ndarray, groups: np.ndarray,
                     folds: int = 2) -> "RegionRescorer":
        """Fit ``combiner_ = (a, b, c)`` of ``sigmoid(a * logit(det) + b * margin + c)``
        (``a = 0`` when ``combiner="margin"``).

        Margins are cross-fitted: ``groups (N,)`` (image ids) are dealt into
        ``folds`` folds; the SVMs fitted (with this rescorer's parameters) on
        the other folds score each fold.  Call after :meth:`fit`.
        """
        descriptors, categories = _checked_rows(descriptors, categories)
        groups = np.asarray(groups)
        _, group_index = np.unique(groups, return_inverse=True)
        fold_of = group_index % folds
        margins = np.zeros(len(descriptors))
        for fold in range(folds):
            held = fold_of == fold
            partial = RegionRescorer(**self.params()).fit(descriptors[~held], categories[~held],
                                                          np.asarray(ious)[~held])
            margins[held] = partial.decision_function(descriptors[held], categories[held])
        self.cross_fitted_margins_ = margins
        self._combiner_inputs = (np.asarray(ious, np.float64), np.asarray(detection_scores, np.float64))
        return self._fit_logistic()

    def with_combiner(self, combiner: str) -> "RegionRescorer":
        """A copy with ``combiner``'s logistic regression refitted on the same cross-fitted margins
        (no SVM is refitted); call after :meth:`fit_combiner`."""
        import copy

        if not hasattr(self, "_combiner_inputs"):
            raise ValueError("with_combiner needs the cross-fitted margins of fit_combiner(...)")
        other = copy.copy(self)
        other.combiner = RegionRescorer(combiner=combiner).combiner   # validated
        return other._fit_logistic()

    def _fit_logistic(self) -> "RegionRescorer":
        from sklearn.linear_model import LogisticRegression

        ious, detection_scores = self._combiner_inputs
        labels = rescoring_labels(ious, self.positive_iou, self.negative_iou)
        labelled = labels != IGNORED
        features = self.cross_fitted_margins_[:, None]
        if self.combiner == "margin+detection":
            features = np.c_[detection_logit(detection_scores), features]
        model = LogisticRegression().fit(features[labelled], labels[labelled])
        coef = [0.0] * (2 - features.shape[1]) + [float(v) for v in model.coef_[0]]
        self.combiner_ = (coef[0], coef[1], float(model.intercept_[0]))
        return self

    def score(self, descriptors: np.ndarray, categories, detection_scores: np.ndarray) -> np.ndarray:
        """``P(IoU > positive_iou)`` of each region from its SVM margin and detection score, (N,)."""
        return self.combine(detection_scores, self.decision_function(descriptors, categories))

    def combine(self, detection_scores: np.ndarray, margins: np.ndarray) -> np.ndarray:
        """The combiner's probability of given detection scores and SVM margins, (N,)."""
        if getattr(self, "combiner_", None) is None:
            raise ValueError("this RegionRescorer has no combiner; call fit_combiner(...) first")
        a, b, c = self.combiner_
        logits = a * detection_logit(detection_scores) + b * np.asarray(margins) + c
        return 1.0 / (1.0 + np.exp(-logits))

    def save(self, path) -> Path:
        """Write to HDF5 (schema ``hypercolumns.rescorer/1``), atomically; returns the path."""
        return save_rescorer(self, path)

    @classmethod
    def load(cls, path, expected_config: dict | None = None) -> "RegionRescorer":
        """Read a rescorer file (see :func:`load_rescorer`)."""
        return load_rescorer(path, expected_config)


def detection_logit(scores, eps: float = 1e-4) -> np.ndarray:
    """``log(s / (1 - s))`` of detection scores in [0, 1] (clipped to [eps, 1 - eps])."""
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 1 or ((scores < 0) | (scores > 1)).any():
        raise ValueError("detection scores must be a 1-D array of probabilities in [0, 1]")
    scores = np.clip(scores, eps, 1 - eps)
    return np.log(scores / (1 - scores))


def _checked_rows(descriptors, categories) -> tuple[np.ndarray, np.ndarray]:
    descriptors = np.asarray(descriptors)
    if descriptors.ndim != 2:
        raise ValueError("descriptors must be 2-D (n_regions, 2 * D), "
                         f"got shape {descriptors.shape}")
    categories = np.asarray(categories, dtype=str).reshape(-1)
    if categories.shape != (descriptors.shape[0],):
        raise ValueError(f"categories must give one name per descriptor row "
                         f"({descriptors.shape[0]}), got {categories.shape[0]}")
    if not np.isfinite(descriptors).all():
        raise ValueError("descriptors contain NaN or inf")
    return descriptors, categories


# --------------------------------------------------------------------------- file

def save_rescorer(rescorer: RegionRescorer, path) -> Path:
    """Write ``rescorer`` to ``path`` (``<name>.tmp``, then renamed).

    Root attributes: ``schema``, ``params`` (JSON), ``feature_config`` (JSON),
    ``feature_config_hash``, ``categories`` (JSON), ``info`` (JSON).  Datasets:
    ``standardization/mean``, ``standardization/scale`` (2D,) float64;
    ``svms/<category>/coef`` (2D,) float64 with attribute ``intercept``;
    ``combiner`` (JSON ``[a, b, c]`` or ``null``, see :meth:`RegionRescorer.fit_combiner`).
    """
    path = Path(path)
    if not hasattr(rescorer, "coef_"):
        raise ValueError(f"cannot save an unfitted RegionRescorer to {path}; call fit first")
    for name in rescorer.coef_:
        if "/" in name or not name:
            raise ValueError(f"{path}: category {name!r} cannot name an HDF5 group")
    with atomic_file(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema"] = SCHEMA
        f.attrs["params"] = json.dumps(rescorer.params())
        record_config(f.attrs, rescorer.feature_config_)
        f.attrs["categories"] = json.dumps(list(rescorer.coef_))
        f.attrs["info"] = json.dumps(_info_for_file(rescorer.info_), default=json_default)
        f.attrs["combiner"] = json.dumps(getattr(rescorer, "combiner_", None))
        f.create_dataset("standardization/mean", data=rescorer.mean_)
        f.create_dataset("standardization/scale", data=rescorer.scale_)
        for name, coef in rescorer.coef_.items():
            f.create_dataset(f"svms/{name}/coef", data=np.asarray(coef, np.float64))
            f[f"svms/{name}"].attrs["intercept"] = float(rescorer.intercept_[name])
    return path


def load_rescorer(path, expected_config: dict | None = None) -> RegionRescorer:
    """Read a rescorer file: MissingFileError if there is none, InputError naming it if it is
    no ``hypercolumns.rescorer/1`` file, a damaged one, or its feature config is not
    ``expected_config`` (:func:`~hypercolumns.classifiers.provenance.check_made_from`)."""
    with open_schema_file(path, SCHEMA, "region rescorer",
                          "fit a RegionRescorer and save it") as f:
        stored = recorded_config(f.attrs)
        if expected_config is not None:
            check_made_from(path, stored, expected_config,
                            "refit the rescorer on descriptors of this network")
        rescorer = RegionRescorer(**json.loads(attr_text(f.attrs["params"])))
        rescorer.mean_ = f["standardization/mean"][:]
        rescorer.scale_ = f["standardization/scale"][:]
        names = json.loads(attr_text(f.attrs["categories"]))
        rescorer.coef_ = {name: f[f"svms/{name}/coef"][:] for name in names}
        rescorer.intercept_ = {name: float(f[f"svms/{name}"].attrs["intercept"]) for name in names}
        rescorer.feature_config_ = stored
        rescorer.info_ = json.loads(attr_text(f.attrs["info"]))
        combiner = json.loads(attr_text(f.attrs["combiner"])) if "combiner" in f.attrs else None
        rescorer.combiner_ = tuple(combiner) if combiner else None
    return rescorer


def _info_for_file(info: dict) -> dict:
    """``info`` without the per-SVM ``negatives_used`` index arrays (in memory only)."""
    return {key: ({k: v for k, v in facts.items() if k != "negatives_used"}
                  if isinstance(facts, dict) else facts) for key, facts in info.items()}
