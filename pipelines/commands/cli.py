"""The ``hypercolumns`` command: one subcommand per stage, each a thin ``main(argv)``.

Subcommand ``x-y`` is ``main`` of :mod:`hypercolumns.pipelines.commands.x_y` (its flags; the
work is a library function), imported only when it is called, so ``hypercolumns --help``
stays fast and ``evaluate`` never loads torch.

Bad input (:class:`~hypercolumns.data.errors.InputError`, raised by every stage
for a problem of the user's making) becomes one line on stderr and exit status
2, never a traceback; any other exception is a bug and keeps its traceback.
Warnings are one line each, ``hypercolumns <command>: warning: ...``.
"""
from __future__ import annotations

import importlib
import os
import sys
import warnings

from hypercolumns.data.errors import InputError

# subcommand -> one-line help
SUBCOMMANDS = {
    "weights": "fetch and convert the ImageNet VGG16 weights",
    "features": "stage one: hypercolumns into HDF5 shards",
    "train-grid": "stage two: the KxK liblinear grid",
    "reproduce-table2": "System 2 with pool expansion and rescoring (Table 2)",
    "train-bbox-reg": "R-CNN box regression from the shards",
    "segment": "segment detections into instance masks",
    "evaluate": "AP^r and COCO mask AP of a results file against COCO annotations",
    "info": "a grid model's card: network, layers, training data, options, metrics",
    "eval-sds": "segment oracle boxes of the val images and score them",
    "reproduce-table1": "the paper's Table 1 ablations on the shared data",
    "finetune": "fine-tune CNN and grid together (Hyp+FT)",
    "eval-keypoints": "keypoint APK, Hyp vs Only global (Table 3)",
    "eval-parts": "part labelling AP^r_part, Hyp vs Only global (Table 4)",
    "compare-shared": "per-box vs shared whole-image features: cost and AP^r",
    "compare-quality": "mask-quality candidates (flips, more rows, projections) by nested CV",
    "data": "download VOC2012 + SBD into DATA_ROOT",
    "yolo-to-coco": "a YOLO-seg split (coco128-seg) as COCO instances JSON, optionally in two halves",
    "oracle-boxes": "each instance's box jittered to IoU 0.7-0.9, as a detections file for segment",
    "bench": "every speed figure in one run, as ratios, to JSON",
    "bench-features": "bare CNN forward vs whole extraction",
    "bench-finetune": "seconds per fine-tuning iteration",
    "bench-shared": "per-box crops vs one shared whole-image forward, per box",
    "bench-inference": "conv-trick vs explicit inference per box",
    "bench-scale": "stage one, stage two and segment at 1x, 2x, 4x the images: time, memory, SBD projection",
    "bench-large-image": "segment on a 12 MP photo with 100 detections: peak memory, time per stage",
}

def usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = ["usage: hypercolumns <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in SUBCOMMANDS.items()]
    lines += ["", "`hypercolumns <command> --help` describes each command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"hypercolumns: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"hypercolumns.pipelines.commands.{name.replace('-', '_')}")
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(name)
            return int(module.main(rest) or 0)
    except InputError as error:
        print(f"hypercolumns {name}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")
        return 0


def _one_line_warning(command: str):
    """A ``warnings.showwarning`` that prints ``hypercolumns <command>: warning: <message>``
    (not the source line, which tells a user nothing)."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"hypercolumns {command}: warning: {message}", file=file or sys.stderr)
    return show


if __name__ == "__main__":
    sys.exit(main())
