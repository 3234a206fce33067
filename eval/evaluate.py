"""``hypercolumns evaluate``: AP^r of a COCO results file against COCO annotations.

Prints::

    AP^r@0.5 <x>
    AP^r@0.7 <y>
    AP^r_vol <v>
    mean best IoU <z>
    COCO mask AP <a> AP50 <b> AP75 <c> AP_small <s> AP_medium <m> AP_large <l> (pycocotools ...)

(percent, one decimal, means over the classes that have ground truth), then a
per-class table. ``--json OUT`` writes :func:`evaluate_coco`'s dict (NaN as
``null``). Bad input (a missing file, a malformed entry, an entry that does not
fit the annotations) is raised as :class:`~hypercolumns.data.errors.InputError`
naming the file and entry, before anything is written; the ``hypercolumns``
dispatcher prints it as one line.
"""
from __future__ import annotations

import math
from pathlib import Path

from hypercolumns.data.errors import MissingFileError
from hypercolumns.data.files import nan_to_null, write_json_atomic
from hypercolumns.eval.apr import evaluate_apr
from hypercolumns.eval.assignment import RULES
from hypercolumns.eval.coco import load_coco_ground_truth, load_coco_results
from hypercolumns.eval.coco_mask_ap import coco_mask_ap, format_coco_line


def evaluate_coco(annotations_path, results_path, rule: str = "sds", images=None, coco_ap: bool = False) -> dict:
    """AP^r at 0.1..0.9 of a COCO results file.

    Parameters
    ----------
    annotations_path : str or Path
        COCO instances JSON.
    results_path : str or Path
        COCO results list with RLE segmentations.
    rule : {"sds", "mnc", "sds-python"}
        See :mod:`hypercolumns.eval.assignment`.
    images : collection of image ids, optional
        Score on these images of the annotations only (their ground truth and
        the results on them; results on other images are passed over), as a
        cross-validation fold is scored; default all.
    coco_ap : bool
        Also COCO's mask AP by pycocotools (:mod:`~hypercolumns.eval.coco_mask_ap`), as
        ``"coco_mask_ap"``.

    Returns
    -------
    summary : dict
        :func:`hypercolumns.eval.apr.summarize`'s dict, classes keyed by
        category name in the file's order, plus ``"annotations"`` and
        ``"results"`` (the paths).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {sorted(RULES)}, got {rule!r}")
    ground_truth, categories = load_coco_ground_truth(annotations_path)
    detections = load_coco_results(results_path, ground_truth, categories)
    if images is not None:
        kept = set(images)
        ground_truth = {image_id: gt for image_id, gt in ground_truth.items() if image_id in kept}
        detections = [d for d in detections if d.image_id in kept]
    summary = evaluate_apr(ground_truth, detections, rule=rule, categories=[name for _, name in categories])
    if coco_ap:
        summary["coco_mask_ap"] = coco_mask_ap(ground_truth, detections, categories)
    summary["annotations"] = str(annotations_path)
    summary["results"] = str(results_path)
    return summary


def format_report(summary: dict) -> str:
    """The printed report: the means, then one line per class."""
    rule = summary["rule"]
    lines = [
        f"AP^r@0.5 {summary['APr@0.5']:.1f}",
        f"AP^r@0.7 {summary['APr@0.7']:.1f}",
        f"AP^r_vol {summary['APr_vol']:.1f}",
        f"mean best IoU {summary['mean_best_iou']:.1f}",
        *([format_coco_line(summary["coco_mask_ap"])] if "coco_mask_ap" in summary else []),
        "",
        f"rule {rule}: {RULES[rule].summary}; means over {summary['n_classes']} classes with ground truth",
        f"{'class':<16} {'n_gt':>6} {'n_det':>7} {'AP^r@0.5':>9} {'AP^r@0.7':>9} {'AP^r_vol':>9} {'best IoU':>9}",
    ]
    for name, entry in summary["per_class"].items():
        values = [entry["APr@0.5"], entry["APr@0.7"], entry["APr_vol"], entry["mean_best_iou"]]
        cells = " ".join(f"{_cell(value):>9}" for value in values)
        lines.append(f"{str(name):<16} {entry['n_gt']:>6} {entry['n_detections']:>7} {cells}")
    return "\n".join(lines)


def _cell(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def write_summary(summary: dict, path) -> None:
    """Write a summary as JSON, NaN as ``null`` (strict JSON has no NaN)."""
    write_json_atomic(nan_to_null(summary), _summary_path(path), indent=2)


def _summary_path(path) -> Path:
    """``path`` if its folder exists (a summary never makes folders); else MissingFileError."""
    path = Path(path)
    if not path.parent.is_dir():
        raise MissingFileError(f"{path}: its folder {path.parent} does not exist")
    return path


def report_coco(annotations, results, rule: str = "sds", json_path=None) -> dict:
    """:func:`evaluate_coco`, printing :func:`format_report`; the summary also to ``json_path`` if given.

    ``json_path``'s folder is checked before the evaluation, so a typo costs no run.
    """
    if json_path:
        _summary_path(json_path)
    summary = evaluate_coco(annotations, results, rule=rule, coco_ap=True)
    print(format_report(summary))
    if json_path:
        write_summary(summary, json_path)
    return summary
