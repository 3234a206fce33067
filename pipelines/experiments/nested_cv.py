"""Nested cross-validation on the training images: choices on inner folds, the report on outer folds.

The shared val split is 12 images, 39 instances: one instance crossing an
IoU threshold moves the mean AP^r by several points.  The training images
(137, ~955 instances) give a report 25 times as large, if no figure is
made on images a choice has seen.  So (:mod:`~hypercolumns.classifiers.selection`):

- the training images are split into ``outer`` folds by image; each outer
  fold is segmented by a grid trained on the other folds, and is reported;
- the choice made after the heatmap (the projection: none, SLIC or
  Felzenszwalb at three sizes each, standing in for MCG, or a GrabCut seeded
  by the heatmap, :data:`PROJECTIONS`) is made for each outer fold by
  ``inner`` folds of its training images, each inner fold segmented by a
  grid trained on the outer fold's other training images;
- the val images are reported with the projection the outer folds choose
  (``outer``-fold cross-validation on all the training images); they reach
  no choice.

Cost: ``outer * (1 + inner)`` grids from the one set of shards (a fold is a
mask over images, :func:`~.cross_val.train_grids_without`), and one CNN pass
per box: an image is held out from one outer grid and from one inner grid
of each other outer fold, and every grid reading the same CNN scores the
same maps (:func:`~.runner.segment_systems`); every projection projects
the same heatmaps, so choosing among them runs no CNN again.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hypercolumns.classifiers.selection import NestedFold, choose, nested_folds
from hypercolumns.classifiers.train import TrainOptions
from hypercolumns.data.files import write_json_atomic
from hypercolumns.eval.evaluate import evaluate_coco
from hypercolumns.pipelines.experiments.cross_val import train_grids_without
from hypercolumns.pipelines.experiments.oracle import oracle_detections
from hypercolumns.pipelines.experiments.runner import Engines, System, _slug, score_results, segment_systems
from hypercolumns.pipelines.inference.superpixels import projection_settings

PROJECTIONS = ("none", "felzenszwalb", "felzenszwalb-scale30", "felzenszwalb-scale300", "slic", "slic-n300",
               "slic-n3000", "grabcut")
"""The projections chosen among (:func:`~hypercolumns.pipelines.inference.superpixels.projection_settings`:
each superpixel method with its default size and a finer and a coarser one, and the heatmap-seeded GrabCut
with its defaults), today's default first (a tie goes to it)."""

CRITERION = "mean of AP^r@0.5 and AP^r@0.7"

PROTOCOLS = ("nested-cv", "plain", "fixed")
"""How a driver's free choices are made on the training images: inner folds of each outer fold, the
outer folds alone (val is the report), or none (val only)."""


def default_protocol(data_root) -> str:
    """``nested-cv`` on the shared data (a val split of 39 instances), ``plain`` on SBD and on your own
    files (a real val split)."""
    from hypercolumns.data.datasets import dataset_kind

    return "nested-cv" if dataset_kind(data_root) == "shared" else "plain"


def check_protocol(protocol: str, outer_folds: int, inner_folds: int) -> str:
    """``protocol`` if it is one of :data:`PROTOCOLS` with enough folds; InputError naming the flag otherwise."""
    from hypercolumns.data.errors import InputError

    if protocol not in PROTOCOLS:
        raise InputError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol != "fixed" and outer_folds < 2 or protocol == "nested-cv" and inner_folds < 2:
        raise InputError(f"--outer-folds and (for nested-cv) --inner-folds must be >= 2, got {outer_folds} "
                         f"and {inner_folds}")
    return protocol


@dataclass
class NestedGrids:
    """The folds and their grids: ``models[("outer", o)]``, ``models[("inner", o, j)]``."""

    folds: list
    models: dict

    @property
    def inner(self) -> int:
        return len(self.folds[0].inner)

    def grids_of(self, image_id) -> tuple:
        """The labels of the grids that hold ``image_id`` out: its outer fold's, and one inner per
        other outer fold (none without inner folds)."""
        labels = []
        for fold in self.folds:
            if image_id in fold.reported:
                labels.append(("outer", fold.outer))
            else:
                labels += [("inner", fold.outer, j) for j, members in enumerate(fold.inner)
                           if image_id in members]
        return tuple(labels)


def train_nested_grids(shards_dir: Path, records: list, out: Path, K: int, options: TrainOptions,
                       outer: int = 3, inner: int = 2, seed: int = 0, log=print) -> NestedGrids:
    """The grids of :func:`~hypercolumns.classifiers.selection.nested_folds` (``inner`` 0: outer folds
    only), trained from ``shards_dir`` into ``out/fold-<o>`` and ``out/fold-<o>-inner-<j>``."""
    ids = [record.image_id for record in records]
    folds = nested_folds(ids, outer, max(inner, 2), seed)
    if not inner:
        folds = [NestedFold(f.outer, f.reported, ()) for f in folds]
    left_out, labels = {}, {}
    for fold in folds:
        left_out[f"fold {fold.outer}"] = fold.reported
        labels[f"fold {fold.outer}"] = ("outer", fold.outer)
        for j, members in enumerate(fold.inner):
            left_out[f"fold {fold.outer} inner {j}"] = fold.reported + members
            labels[f"fold {fold.outer} inner {j}"] = ("inner", fold.outer, j)
    paths = train_grids_without(Path(shards_dir), set(ids), left_out, out, K, options, log)
    return NestedGrids(folds, {labels[name]: path for name, path in paths.items()})


def fold_grids_of(model: Path, shards_dir: Path, records: list, out: Path, outer: int = 3, inner: int = 2,
                  seed: int = 0, log=print) -> NestedGrids:
    """:func:`train_nested_grids` with the K and training options recorded in ``model``: that model's
    fold grids (trained where missing)."""
    from hypercolumns.classifiers.model_file import load_grid

    grid = load_grid(model)
    options = TrainOptions.recorded(grid.info.get("options", {}))
    return train_nested_grids(Path(shards_dir).absolute(), records, out, grid.K, options, outer, inner, seed, log)


def system_name(label: tuple, projection: str) -> str:
    return " ".join(map(str, label)) + f" {projection}"


def segment_folds(grids: NestedGrids, records: list, coco: dict, detections: list, data_root,
                  engines: Engines, projections=PROJECTIONS, score: str = "mask",
                  companions: dict | None = None, variants: dict | None = None) -> dict:
    """``{(grid label, projection): results list}``, each list in ``detections``' order with None
    where that grid does not hold the detection's image out.

    Images are grouped by the grids that hold them out, and each group is
    segmented once with all its grids and projections (one CNN pass per box).
    ``companions``: ``{name: {outer fold: model path}}``, more grids trained
    without each outer fold (another row's), under the label ``(name, outer fold)``;
    a ``(model path, box regressor)`` pair in place of a path segments the boxes
    that fold's regressor refined; ``score``: as :func:`~.runner.segment_systems` has it.
    ``variants``: ``{name: NestedGrids}`` of the same folds trained otherwise (other shards), each grid
    under the label ``(name, *label)``, outer and inner alike.
    """
    dataset_ids = [image["dataset_image_id"] for image in coco["images"]]
    models, regressors = dict(grids.models), {}
    for name, other in (variants or {}).items():
        _check_same_folds(grids, other, name)
        models.update({(name, *label): path for label, path in other.models.items()})
    for name, specs in (companions or {}).items():
        for outer, spec in specs.items():
            models[(name, outer)], regressors[(name, outer)] = (tuple(spec) if isinstance(spec, (tuple, list))
                                                                else (spec, None))
    groups: dict = {}
    for index, detection in enumerate(detections):
        labels = grids.grids_of(dataset_ids[detection["image_id"] - 1])
        labels += tuple((name, *label) for name in variants or () for label in labels)
        labels += tuple((name, label[1]) for name in companions or () for label in labels
                        if label[0] == "outer")
        groups.setdefault(labels, []).append(index)
    results = {(label, p): [None] * len(detections) for label in models for p in projections}
    for labels, indices in groups.items():
        systems = [System(system_name(label, p), models[label], projection_settings(p), regressors.get(label))
                   for label in labels for p in projections]
        segmented = segment_systems(systems, records, coco, [detections[i] for i in indices], data_root,
                                    engines, score=score)
        for label in labels:
            for p in projections:
                for index, result in zip(indices, segmented[system_name(label, p)]):
                    results[(label, p)][index] = result
    return results


def check_variant_name(name: str) -> str:
    """ValueError unless ``name`` can label a variant's grids and candidates (:func:`candidate_keys`)."""
    if not name or name in ("outer", "inner") or "+" in name:
        raise ValueError(f"variant name {name!r}: empty, 'outer', 'inner' and names with '+' are taken")
    return name


def _check_same_folds(grids: NestedGrids, other: NestedGrids, name: str) -> None:
    check_variant_name(name)
    if [(f.outer, f.reported, f.inner) for f in other.folds] != [(f.outer, f.reported, f.inner) for f in grids.folds]:
        raise ValueError(f"variant {name!r} has other folds than the grids it is compared with")


def candidate_keys(projections, variants=()) -> dict:
    """``{key: (variant or None, projection)}``: each projection of the grids themselves under its own
    name, then each variant's as ``<variant>+<projection>``."""
    keys = {p: (None, p) for p in projections}
    keys.update({f"{v}+{p}": (v, p) for v in variants for p in projections})
    return keys


def _of(variant, *label) -> tuple:
    """A grid label of the grids themselves (variant None) or of a variant's."""
    return label if variant is None else (variant, *label)


def _coco_ids(coco: dict, dataset_ids) -> list:
    wanted = set(dataset_ids)
    return [image["id"] for image in coco["images"] if image["dataset_image_id"] in wanted]


def score_covered(results: list, annotations_path, path: Path, images=None) -> dict:
    """Write the covered results to ``path`` and score them (on ``images`` only, if given)."""
    write_json_atomic([r for r in results if r is not None], path)
    return evaluate_coco(annotations_path, path, images=images)


def criterion_of(summaries: list) -> float:
    """:data:`CRITERION`, mean over seeds."""
    return float(np.mean([(s["APr@0.5"] + s["APr@0.7"]) / 2 for s in summaries]))


def nested_cv_report(grids: NestedGrids, records: list, coco: dict, annotations_path, data_root, out: Path,
                     engines: Engines, name: str, seeds=(0,), projections=PROJECTIONS,
                     companions: dict | None = None, variants: dict | None = None,
                     choose_among=None, setting: str | None = None) -> dict:
    """Segment the training images' oracle boxes with the folds' grids, choose, and score.

    ``companions``: ``{row name: {outer fold: model path or (model path, box regressor)}}``, other
    rows' grids trained without each outer fold (:func:`segment_folds`), reported with each fold's choice.
    ``variants``: ``{name: NestedGrids}`` of the same folds trained otherwise; the inner folds then
    choose among every projection of the grids and of each variant (:func:`candidate_keys`), and
    companions are refused (their projection would be undefined).
    ``choose_among``: the candidate keys the choices are made among (default all: the others are
    reported, held fixed, but never chosen: compare-shared's per-box row, the reference the shared
    candidates are chosen against); ``setting``: what is chosen, as the selection records it.

    Returns
    -------
    dict
        ``per_projection``: ``{candidate key: {seed: summary}}`` of the outer folds pooled (each
        candidate fixed; the keys are the projections without variants); ``candidates``: each key's
        ``(variant or None, projection)`` (:func:`candidate_keys`); ``selected``: the same for each outer fold's inner choice (absent without
        inner folds); ``choices``: the inner :class:`Selection` per outer fold; ``for_report``: the
        choice of the outer folds pooled, for the images reported elsewhere (val); ``companions``:
        ``{row name: {seed: summary}}``, each outer fold projected as its inner folds chose (as
        ``for_report`` chose without inner folds); ``detections``: the oracle boxes per seed.
    """
    out = Path(out)
    slug = _slug(name)
    companions, variants = companions or {}, variants or {}
    if companions and variants:
        raise ValueError("companions are projected as the inner folds chose, which with variants is not "
                         "a projection alone: give one or the other")
    keys = candidate_keys(projections, variants)
    choosable = list(keys) if choose_among is None else list(choose_among)
    if not choosable or set(choosable) - set(keys):
        raise ValueError(f"choose_among {choosable}: not among the candidates {list(keys)}")
    choice = setting or ("projection" if not variants else "training variant and projection")
    outer_results = {key: {} for key in keys}
    companion_results = {(c, p): {} for c in companions for p in projections}
    inner_scores = {(f.outer, key): [] for f in grids.folds for key in choosable}
    detections_by_seed = {}
    for seed in seeds:
        detections = detections_by_seed[seed] = oracle_detections(coco, seed)
        write_json_atomic(detections, out / f"oracle_boxes_seed{seed}.json")
        results = segment_folds(grids, records, coco, detections, data_root, engines, projections,
                                companions=companions, variants=variants)
        for p in projections:
            for c in companions:
                companion_results[(c, p)][seed] = _merge([results[((c, f.outer), p)] for f in grids.folds])
        for key, (v, p) in keys.items():
            outer_results[key][seed] = _merge([results[(_of(v, "outer", f.outer), p)] for f in grids.folds])
            for f in (grids.folds if key in choosable else ()):
                inner = _merge([results[(_of(v, "inner", f.outer, j), p)] for j in range(len(f.inner))])
                if f.inner:
                    inner_scores[(f.outer, key)].append(score_covered(
                        inner, annotations_path, out / "inner" / f"fold-{f.outer}" / f"{slug}_{key}_seed{seed}.json",
                        images=_coco_ids(coco, f.training)))
    report = {"per_projection": {}, "detections": detections_by_seed, "choices": {}, "candidates": keys}
    for key in keys:
        report["per_projection"][key] = {seed: _scored(outer_results[key][seed], coco, annotations_path, out,
                                                       f"{name} {key}", seed) for seed in seeds}
    if grids.inner:
        for f in grids.folds:
            report["choices"][f.outer] = choose(
                choice, {key: criterion_of(inner_scores[(f.outer, key)]) for key in choosable}, f.training,
                criterion=CRITERION, selected_on=f"training images outside outer fold {f.outer}, "
                f"{grids.inner}-fold by image")
        report["selected"] = {}
        for seed in seeds:
            chosen = _merge([[r if _fold_of(grids, coco, r) == f.outer else None
                              for r in outer_results[report["choices"][f.outer].chosen][seed]]
                             for f in grids.folds])
            report["selected"][seed] = _scored(chosen, coco, annotations_path, out, f"{name} selected", seed)
    all_training = [i for f in grids.folds for i in f.reported]
    report["for_report"] = choose(
        choice, {key: criterion_of(list(report["per_projection"][key].values())) for key in choosable},
        all_training, criterion=CRITERION, selected_on=f"training images, {len(grids.folds)}-fold by image")
    chosen = {f.outer: (report["choices"][f.outer] if grids.inner else report["for_report"]).chosen
              for f in grids.folds}
    report["companions"] = {c: {seed: _scored(_merge([
        [r if _fold_of(grids, coco, r) == f.outer else None for r in companion_results[(c, chosen[f.outer])][seed]]
        for f in grids.folds]), coco, annotations_path, out, c, seed) for seed in seeds} for c in companions}
    return report


def whole_box_summaries(report: dict, records: list, coco: dict, annotations_path, data_root, out: Path,
                        engines: Engines) -> dict:
    """``{seed: summary}`` of the whole-box baseline on a :func:`nested_cv_report`'s oracle boxes."""
    whole = {}
    for seed, detections in report["detections"].items():
        results = segment_systems([System("whole box", None)], records, coco, detections, data_root, engines)
        whole[seed] = score_results(results["whole box"], coco, annotations_path, out, "whole box", seed)
    return whole


def _fold_of(grids: NestedGrids, coco: dict, result) -> int | None:
    if result is None:
        return None
    image_id = coco["images"][result["image_id"] - 1]["dataset_image_id"]
    return next(f.outer for f in grids.folds if image_id in f.reported)


def _merge(partial: list) -> list:
    """One list from lists of the same length that cover disjoint entries (None elsewhere)."""
    merged = [None] * len(partial[0]) if partial else []
    for part in partial:
        for index, item in enumerate(part):
            if item is not None:
                merged[index] = item
    return merged


def _scored(results: list, coco: dict, annotations_path, out: Path, name: str, seed: int) -> dict:
    """:func:`~.runner.score_results` of a results list that must be complete (one per annotation)."""
    if any(r is None for r in results):
        raise RuntimeError(f"{name}, seed {seed}: some oracle boxes were segmented by no fold's grid")
    return score_results(results, coco, annotations_path, out, name, seed)


def selection_record(report: dict) -> dict:
    """The choices of a :func:`nested_cv_report`, as written into the results file."""
    record = {"for_val": report["for_report"].as_dict()}
    if report["choices"]:
        record["per_outer_fold"] = {str(o): s.as_dict() for o, s in report["choices"].items()}
    return record


def selection_lines(report: dict) -> list:
    lines = [f"outer fold {o}: " + s.line() for o, s in report["choices"].items()]
    return lines + ["val: " + report["for_report"].line()]

