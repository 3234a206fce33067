"""APK: average precision of keypoints (Yang & Ramanan; the paper's Table 3).

Staged like :mod:`~hypercolumns.eval.apr`: :func:`match_image` (per image and
keypoint type: normalised distances, assignments), :func:`accumulate` (per type
over the data set: ranked flags, AP), :func:`summarize` (a plain dict, percent).
:func:`evaluate_apk` runs the three.

The rule (Yang & Ramanan's ``eval_apk.m``, which the k-poselets evaluation
behind Table 3's baselines uses; ``../shared/paper/protocol.md``):

- Per keypoint type, every prediction of the data set ``(image, type, x, y,
  score)`` in decreasing score order; ties keep the input order (a stable
  sort, as MATLAB's ``sort(..., 'descend')``).
- The distance of a prediction to a ground-truth keypoint of its type in its
  image is measured in units of that person's torso height:
  ``d = ||(x, y) - (x_gt, y_gt)|| / torso_height``.
- ``rule="nearest"`` (default; ``eval_apk.m``, protocol.md: "each prediction
  goes to its nearest ground truth of that type, a covered one makes it a false
  positive"): the prediction goes to the keypoint of least ``d`` (ties: the
  first person); a true positive iff ``d <= alpha`` and that keypoint is not
  yet covered (it is then covered); otherwise a false positive.
- ``rule="uncovered"`` (issue 7's wording: "within 0.2 x torso height of a
  not-yet-matched ground-truth keypoint"): the prediction goes to the
  not-yet-covered keypoint of least ``d``; a true positive iff ``d <= alpha``.
  A second prediction near a covered keypoint can then still take a
  neighbour's keypoint; "nearest" never lets it.
- "Nearest" is in units of each person's torso height, as ``eval_apk.m``
  divides by the scale before taking the minimum: near two persons of
  different sizes, a prediction goes to the one it is closer to relative to
  that person's size.
- ``alpha = 0.2`` (the paper); ``d <= alpha`` is inclusive, as ``eval_apk.m``.
- A prediction in an image without ground truth of its type (an image
  without persons, or whose persons lack that keypoint) is a false positive.
- AP is the all-points area under the monotone precision envelope
  (``VOCap``, :func:`~hypercolumns.eval.average_precision.average_precision`).
- ``n_gt`` of a type is the number of *labelled* ground-truth keypoints of that
  type. A keypoint missing from a person's dict is unlabelled: it is not ground
  truth. A labelled but invisible keypoint (``visible == 0``: poselets'
  occluded joints with a placed position, COCO's ``v = 1``) counts by default,
  as in ``eval_apk.m``, which has no visibility flag: every annotated point is
  ground truth. ``count_invisible=False`` drops them (a prediction near one is
  then a false positive).
- The mean is over the types that have ground truth (a type without any is
  NaN and left out; a type with ground truth and no prediction is 0).

Torso height (:func:`torso_height`): the height of the box around the labelled
torso keypoints (shoulders and hips, visible or not), i.e. ``max(y) - min(y)``
over them, when at least one shoulder and one hip are labelled and that height
is positive. Otherwise -- two shoulders alone span nearly no height, so "fewer
than two" is not the only case that fails -- the fallback is
``fallback_fraction`` (0.5) x the person box's height. Why 0.5: measured on the
shared data (persons with all four torso keypoints), the torso is a median 0.63
of the ``visible_bounds`` height on the 9 PASCAL poselets persons (the paper's
data; mostly truncated, upper-body boxes) and 0.33 of the ``bbox`` height on the
12 COCO persons (mostly whole bodies); persons that lack a shoulder or a hip are mostly truncated ones, so the
fallback takes a value between the two. No shared person uses it (0 of 6 val, 0 of
15 training persons), so no figure on the shared data depends on it; it is our
rule, stated as a Deviation (README). A person with labelled keypoints but
neither a torso nor a box is an error.

Keypoint names are the paper's 13 columns, :data:`PAPER_KEYPOINTS` (COCO's own
names for these joints); rename a data set's keypoints to them before evaluating
(:mod:`hypercolumns.data.keypoint_names`).
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from hypercolumns.data.keypoint_names import PAPER_KEYPOINT_LABELS, PAPER_KEYPOINTS
from hypercolumns.eval.apr import indices_by_image
from hypercolumns.eval.assignment import assign_detections
from hypercolumns.eval.average_precision import average_precision

KEYPOINT_LABELS = dict(zip(PAPER_KEYPOINTS, PAPER_KEYPOINT_LABELS))
"""``{"left_shoulder": "LS", ...}``."""

SHOULDERS = ("left_shoulder", "right_shoulder")
HIPS = ("left_hip", "right_hip")
ALPHA = 0.2
FALLBACK_FRACTION = 0.5
APK_RULES = ("nearest", "uncovered")
# assign_detections' rules on similarity -d: "mnc" is the argmax (nearest) with ">=",
# "sds" the best uncovered with ">"; nextafter makes "> t" mean ">= -alpha" exactly.
_ASSIGNMENT = {"nearest": "mnc", "uncovered": "sds"}


class KeypointPrediction(NamedTuple):
    """One predicted keypoint.

    Attributes
    ----------
    image_id : hashable
        Key of the image in the ground-truth mapping.
    keypoint : str
        Its type, e.g. ``"left_wrist"``.
    x, y : float
        Position in the continuous frame of :mod:`hypercolumns.data.records`.
    score : float
        Higher is more confident.
    """

    image_id: Hashable
    keypoint: str
    x: float
    y: float
    score: float


@dataclass
class PersonKeypoints:
    """One ground-truth person.

    Attributes
    ----------
    keypoints : dict of str to (x, y, visible)
        The labelled keypoints (continuous frame); a missing name is unlabelled.
    torso_height : float
        Pixels, > 0 (NaN allowed only for a person without keypoints). Build
        with :func:`person_keypoints` to get it from the torso or the box.
    """

    keypoints: dict
    torso_height: float

    def __post_init__(self):
        self.torso_height = float(self.torso_height)
        if self.keypoints and not (np.isfinite(self.torso_height) and self.torso_height > 0):
            raise ValueError(f"torso_height must be a positive number, got {self.torso_height!r}")
        for name, value in self.keypoints.items():
            if len(value) != 3 or not np.all(np.isfinite(np.asarray(value[:2], dtype=np.float64))):
                raise ValueError(f"keypoint {name!r} must be (x, y, visible) with finite x, y, got {value!r}")


@dataclass
class KeypointTypeMatch:
    """One keypoint type's predictions matched in one image.

    Attributes
    ----------
    prediction_ids : ndarray of shape (P,), int64
        Indices of the predictions in the caller's list, in matching order
        (decreasing score, ties by index).
    scores : ndarray of shape (P,), float64
    distance : ndarray of shape (P, G), float64
        Distances in torso heights; columns the type's ground-truth keypoints
        of the image, persons in order.
    gt_person : ndarray of shape (G,), int64
        The person (index in the image's list) of each column.
    matched_gt : ndarray of shape (P,), int64
        The column each prediction took, -1 for none (a false positive).
    true_positive : ndarray of shape (P,), bool
    """

    prediction_ids: np.ndarray
    scores: np.ndarray
    distance: np.ndarray
    gt_person: np.ndarray
    matched_gt: np.ndarray
    true_positive: np.ndarray


@dataclass
class KeypointImageMatch:
    """:func:`match_image`'s result: alpha, rule, ``{keypoint type: KeypointTypeMatch}``."""

    alpha: float
    rule: str
    types: dict


@dataclass
class KeypointTypeAccumulation:
    """One keypoint type over all images.

    Attributes
    ----------
    prediction_ids : ndarray of shape (P,), int64
        Ranked: decreasing score, ties by index.
    scores : ndarray of shape (P,), float64
    true_positive, false_positive : ndarray of shape (P,), bool
        Of the ranked predictions; every prediction is one or the other.
    n_gt : int
        Labelled ground-truth keypoints of the type.
    average_precision : float
        In [0, 1]; NaN when ``n_gt == 0``.
    """

    prediction_ids: np.ndarray
    scores: np.ndarray
    true_positive: np.ndarray
    false_positive: np.ndarray
    n_gt: int
    average_precision: float


@dataclass
class KeypointAccumulation:
    """:func:`accumulate`'s result: alpha, rule, ``{keypoint type: KeypointTypeAccumulation}``."""

    alpha: float
    rule: str
    types: dict


def torso_height(keypoints: Mapping, box=None, *, fallback_fraction: float = FALLBACK_FRACTION) -> float:
    """Height of the box around a person's labelled shoulders and hips.

    Parameters
    ----------
    keypoints : dict of str to (x, y, visible)
        Paper names (:data:`PAPER_KEYPOINTS`); invisible ones count.
    box : array-like of shape (4,), float, optional
        The person's ``x0, y0, x1, y1``, for the fallback.
    fallback_fraction : float
        Torso height as a fraction of the box height when the torso is not
        labelled (no shoulder or no hip) or spans no height.

    Returns
    -------
    height : float
        Pixels, > 0.

    Raises
    ------
    ValueError
        The torso is not labelled and no box (of positive height) is given.
    """
    shoulders = [keypoints[name][1] for name in SHOULDERS if name in keypoints]
    hips = [keypoints[name][1] for name in HIPS if name in keypoints]
    if shoulders and hips:
        height = float(max(shoulders + hips) - min(shoulders + hips))
        if height > 0:
            return height
    box_height = np.nan
    if box is not None:
        x0, y0, x1, y1 = np.asarray(box, dtype=np.float64).reshape(4)
        box_height = float(y1 - y0)
    if not box_height > 0:
        raise ValueError(
            f"no torso height: labelled shoulders {len(shoulders)}, hips {len(hips)} (need one of each "
            f"spanning some height) and the person box is {box!r}; give the person's box x0, y0, x1, y1"
        )
    return fallback_fraction * box_height


def person_keypoints(keypoints: Mapping, box=None, *,
                     fallback_fraction: float = FALLBACK_FRACTION) -> PersonKeypoints:
    """A ground-truth person, its torso height from :func:`torso_height`.

    Parameters
    ----------
    keypoints : dict of str to (x, y, visible)
        Paper names (:data:`PAPER_KEYPOINTS`; other names are kept but only
        evaluated if asked for), continuous frame.
    box : array-like of shape (4,), float, optional
        ``x0, y0, x1, y1``; needed only when the torso is not labelled.
    fallback_fraction : float

    Returns
    -------
    PersonKeypoints
        ``torso_height`` NaN when there are no keypoints at all.
    """
    keypoints = {name: tuple(value) for name, value in keypoints.items()}
    if not keypoints:
        return PersonKeypoints({}, np.nan)
    return PersonKeypoints(keypoints, torso_height(keypoints, box, fallback_fraction=fallback_fraction))


def match_image(persons: Sequence[PersonKeypoints], predictions: Sequence[KeypointPrediction], *,
                alpha: float = ALPHA, rule: str = "nearest", keypoints: Sequence[str] = PAPER_KEYPOINTS,
                count_invisible: bool = True, prediction_ids=None) -> KeypointImageMatch:
    """Match one image's predicted keypoints to its persons, type by type.

    Parameters
    ----------
    persons : sequence of PersonKeypoints
        The image's ground truth; empty for an image without persons.
    predictions : sequence of KeypointPrediction
        This image's predictions (``image_id`` is not read), of types in
        ``keypoints``.
    alpha : float
        Radius in torso heights.
    rule : {"nearest", "uncovered"}
    keypoints : sequence of str
        The types evaluated; ground-truth keypoints of other names are skipped.
    count_invisible : bool
        Whether labelled invisible keypoints are ground truth.
    prediction_ids : ndarray of shape (P,), int, optional
        Global indices of ``predictions``, breaking score ties; default
        ``0..P-1``.

    Returns
    -------
    KeypointImageMatch
        One KeypointTypeMatch per type of ``keypoints``.
    """
    _check_alpha_rule(alpha, rule)
    for k, person in enumerate(persons):
        if not isinstance(person, PersonKeypoints):
            raise TypeError(f"person {k}: expected PersonKeypoints (see person_keypoints()), "
                            f"got {type(person).__name__}")
    ids = np.arange(len(predictions)) if prediction_ids is None else np.asarray(prediction_ids, np.int64)
    if ids.shape != (len(predictions),):
        raise ValueError(f"prediction_ids has shape {ids.shape} for {len(predictions)} predictions")
    _check_predictions(predictions, ids, keypoints)
    types = {}
    for name in keypoints:
        rows = np.asarray([i for i, p in enumerate(predictions) if p.keypoint == name], dtype=np.int64)
        types[name] = _match_type(persons, [predictions[i] for i in rows], ids[rows], name,
                                  alpha, rule, count_invisible)
    return KeypointImageMatch(alpha=float(alpha), rule=rule, types=types)


def _match_type(persons, predictions, ids, name, alpha, rule, count_invisible) -> KeypointTypeMatch:
    gt_person, gt_xy, gt_scale = _ground_truth_of(persons, name, count_invisible)
    scores = np.asarray([p.score for p in predictions], dtype=np.float64)
    xy = np.asarray([(p.x, p.y) for p in predictions], dtype=np.float64).reshape(-1, 2)
    order = np.lexsort((ids, -scores))
    scores, xy, ids = scores[order], xy[order], ids[order]
    distance = np.hypot(xy[:, None, 0] - gt_xy[None, :, 0], xy[:, None, 1] - gt_xy[None, :, 1]) / gt_scale
    matched = _assign(distance, alpha, rule)
    return KeypointTypeMatch(prediction_ids=ids, scores=scores, distance=distance, gt_person=gt_person,
                             matched_gt=matched, true_positive=matched >= 0)


def _ground_truth_of(persons, name, count_invisible):
    """Person index (G,), position (G, 2) and torso height (G,) of the keypoints ``name``."""
    rows = [(k, person.keypoints[name], person.torso_height) for k, person in enumerate(persons)
            if name in person.keypoints and (count_invisible or person.keypoints[name][2])]
    gt_person = np.asarray([k for k, _, _ in rows], dtype=np.int64)
    gt_xy = np.asarray([value[:2] for _, value, _ in rows], dtype=np.float64).reshape(-1, 2)
    gt_scale = np.asarray([scale for _, _, scale in rows], dtype=np.float64)
    return gt_person, gt_xy, gt_scale


def _assign(distance: np.ndarray, alpha: float, rule: str) -> np.ndarray:
    """Column each ranked prediction takes (-1 for none), via AP^r's assignment on ``-distance``."""
    threshold = -alpha if rule == "nearest" else np.nextafter(-alpha, -np.inf)
    gt_ignore = np.zeros(distance.shape[1], dtype=bool)
    return assign_detections(-distance, gt_ignore, [threshold], _ASSIGNMENT[rule])[0]


def accumulate(image_matches: Iterable[KeypointImageMatch],
               keypoints: Sequence[str] | None = None) -> KeypointAccumulation:
    """Gather every image's matches into ranked per-type flags and AP.

    Parameters
    ----------
    image_matches : iterable of KeypointImageMatch
        All made with the same alpha and rule.
    keypoints : sequence of str, optional
        Types to report, in this order; default every type matched, in order.

    Returns
    -------
    KeypointAccumulation
    """
    per_type, alpha, rule = {}, None, None
    for image_match in image_matches:
        if alpha is None:
            alpha, rule = image_match.alpha, image_match.rule
        elif (image_match.alpha, image_match.rule) != (alpha, rule):
            raise ValueError(f"image matches were made with different alphas or rules: "
                             f"{(alpha, rule)} and {(image_match.alpha, image_match.rule)}")
        for name, type_match in image_match.types.items():
            per_type.setdefault(name, []).append(type_match)
    order = list(keypoints) if keypoints is not None else list(per_type)
    types = {name: _accumulate_type(per_type.get(name, [])) for name in order}
    return KeypointAccumulation(alpha=ALPHA if alpha is None else alpha, rule=rule or "nearest", types=types)


def _accumulate_type(matches: list) -> KeypointTypeAccumulation:
    ids = np.concatenate([m.prediction_ids for m in matches] + [np.zeros(0, np.int64)])
    scores = np.concatenate([m.scores for m in matches] + [np.zeros(0)])
    true_positive = np.concatenate([m.true_positive for m in matches] + [np.zeros(0, bool)])
    n_gt = int(sum(m.gt_person.size for m in matches))
    rank = np.lexsort((ids, -scores))
    true_positive = true_positive[rank]
    ap = average_precision(true_positive, ~true_positive, n_gt, "all_points")
    return KeypointTypeAccumulation(prediction_ids=ids[rank], scores=scores[rank], true_positive=true_positive,
                                    false_positive=~true_positive, n_gt=n_gt, average_precision=ap)


def summarize(accumulation: KeypointAccumulation) -> dict:
    """Per-type APK and their mean, in percent.

    Parameters
    ----------
    accumulation : KeypointAccumulation

    Returns
    -------
    summary : dict
        ``"APK"``: ``{type: percent}`` (NaN for a type without ground truth);
        ``"mean"``: over the types with ground truth (NaN if none);
        ``"n_gt"``, ``"n_predictions"``: ``{type: int}``; ``"alpha"``, ``"rule"``.
    """
    types = accumulation.types
    apk = {name: float(100.0 * acc.average_precision) for name, acc in types.items()}
    counted = [apk[name] for name, acc in types.items() if acc.n_gt > 0]
    return {
        "APK": apk,
        "mean": float(np.mean(counted)) if counted else float("nan"),
        "n_gt": {name: acc.n_gt for name, acc in types.items()},
        "n_predictions": {name: int(acc.scores.size) for name, acc in types.items()},
        "alpha": accumulation.alpha,
        "rule": accumulation.rule,
    }


def match_all(ground_truth: Mapping[Hashable, Sequence[PersonKeypoints]],
              predictions: Sequence[KeypointPrediction], **options):
    """:func:`match_image` over every image of ``ground_truth``, lazily.

    Parameters
    ----------
    ground_truth : mapping of image_id to sequence of PersonKeypoints
    predictions : sequence of KeypointPrediction
    **options
        ``alpha``, ``rule``, ``keypoints``, ``count_invisible`` of :func:`match_image`.

    Raises
    ------
    ValueError
        A prediction names an image that ``ground_truth`` lacks.
    """
    by_image = indices_by_image(ground_truth, predictions, "an empty list", what="prediction")
    for image_id, persons in ground_truth.items():
        indices = by_image[image_id]
        yield match_image(persons, [predictions[i] for i in indices], prediction_ids=indices, **options)


def evaluate_apk(ground_truth: Mapping[Hashable, Sequence[PersonKeypoints]],
                 predictions: Sequence[KeypointPrediction], *, alpha: float = ALPHA, rule: str = "nearest",
                 keypoints: Sequence[str] = PAPER_KEYPOINTS, count_invisible: bool = True) -> dict:
    """APK of predicted keypoints: match, accumulate, summarise.

    Parameters
    ----------
    ground_truth : mapping of image_id to sequence of PersonKeypoints
        Every evaluated image, an empty sequence for one without persons.
    predictions : sequence of KeypointPrediction
        Their order breaks score ties.
    alpha : float
        Radius in torso heights (the paper: 0.2).
    rule : {"nearest", "uncovered"}
        See the module docstring; "nearest" is ``eval_apk.m``'s.
    keypoints : sequence of str
        Types evaluated and reported, in order (default the paper's 13).
    count_invisible : bool
        Whether labelled invisible keypoints are ground truth (default yes).

    Returns
    -------
    summary : dict
        See :func:`summarize`.
    """
    matches = match_all(ground_truth, predictions, alpha=alpha, rule=rule, keypoints=keypoints,
                        count_invisible=count_invisible)
    return summarize(accumulate(matches, keypoints))


def _check_alpha_rule(alpha, rule) -> None:
    if rule not in APK_RULES:
        raise ValueError(f"rule must be one of {APK_RULES}, got {rule!r}")
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive number of torso heights (the paper: 0.2), got {alpha!r}")


def _check_predictions(predictions, ids, keypoints) -> None:
    known = set(keypoints)
    for index, prediction in zip(ids, predictions):
        if prediction.keypoint not in known:
            raise ValueError(f"prediction {index}: keypoint {prediction.keypoint!r} is not among the evaluated "
                             f"types {tuple(keypoints)}; map its name or pass keypoints=")
        if not np.all(np.isfinite([prediction.x, prediction.y, prediction.score])):
            raise ValueError(f"prediction {index}: x, y, score must be finite numbers, got "
                             f"{(prediction.x, prediction.y, prediction.score)!r}")
