"""The ``hypercolumns`` command: one subcommand per stage, each a thin ``main(argv)``.

Each subcommand lives in the module named below and is imported only when it
is called, so ``hypercolumns --help`` stays fast and ``evaluate`` never loads
torch.  Errors of ours (``ValueError``, ``FileNotFoundError``, ...) become one
line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import importlib
import os
import sys

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "weights": ("hypercolumns.pipelines.commands.weights", "fetch and convert the ImageNet VGG16 weights"),
    "features": ("hypercolumns.pipelines.commands.features", "stage one: hypercolumns into HDF5 shards"),
    "train-grid": ("hypercolumns.pipelines.commands.train_grid", "stage two: the KxK liblinear grid"),
    "reproduce-table2": ("hypercolumns.pipelines.experiments.table2", "System 2 with pool expansion and rescoring (Table 2)"),
    "train-bbox-reg": ("hypercolumns.pipelines.commands.train_bbox_reg", "R-CNN box regression from the shards"),
    "segment": ("hypercolumns.pipelines.commands.segment", "segment detections into instance masks"),
    "evaluate": ("hypercolumns.pipelines.commands.evaluate", "AP^r of a results file against COCO annotations"),
    "eval-sds": ("hypercolumns.pipelines.commands.eval_sds", "segment oracle boxes of the val images and score them"),
    "reproduce-table1": ("hypercolumns.pipelines.commands.reproduce_table1", "the paper's Table 1 ablations on the shared data"),
    "finetune": ("hypercolumns.pipelines.commands.finetune", "fine-tune CNN and grid together (Hyp+FT)"),
    "eval-keypoints": ("hypercolumns.pipelines.commands.eval_keypoints", "keypoint APK, Hyp vs Only global (Table 3)"),
    "eval-parts": ("hypercolumns.pipelines.commands.eval_parts", "part labelling AP^r_part, Hyp vs Only global (Table 4)"),
    "compare-shared": ("hypercolumns.pipelines.commands.compare_shared", "per-box vs shared whole-image features: cost and AP^r"),
    "data": ("hypercolumns.pipelines.commands.data", "download VOC2012 + SBD into DATA_ROOT"),
    "bench": ("hypercolumns.pipelines.commands.bench", "every speed figure in one run, as ratios, to JSON"),
    "bench-features": ("hypercolumns.pipelines.commands.bench_features", "bare CNN forward vs whole extraction"),
    "bench-finetune": ("hypercolumns.pipelines.commands.bench_finetune", "seconds per fine-tuning iteration"),
    "bench-shared": ("hypercolumns.pipelines.commands.bench_shared", "per-box crops vs one shared whole-image forward, per box"),
    "bench-inference": ("hypercolumns.pipelines.commands.bench_inference", "conv-trick vs explicit inference per box"),
}

# Errors our code raises for bad input; anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, FileNotFoundError)


def usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = ["usage: hypercolumns <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
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
    module = importlib.import_module(SUBCOMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except USER_ERRORS as error:
        print(f"hypercolumns {name}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
