"""The flags several commands share, each declared once, and the parser every command starts from.

``command_parser("eval-sds", doc, data_root=True, out="results/sds")`` is the parser of
``hypercolumns eval-sds`` with one parent parser holding the shared flags it names, in that
order: ``True`` takes the declaration of :data:`SHARED` as it stands, a dict overrides parts
of it for this command (``{"required": True, "help": ...}``), any other value is its default.
"""
from __future__ import annotations

import argparse
from pathlib import Path

SHARED = {
    "data_root": dict(type=Path, required=True),
    "out": dict(type=Path),
    "device": dict(default=None),
    "weights": dict(default=None),
    "model": dict(type=Path, default="work/models/grid-K10.h5"),
    "models": dict(type=Path, default="work/models"),
    "shards": dict(type=Path, default="work/features"),
    "work": dict(type=Path),
    "seeds": dict(type=int, nargs="+", default=[0, 1, 2]),
    "seed": dict(type=int, default=0),
    "batch_size": dict(type=int, default=16),
    "images": dict(type=int, default=4),
    "scheduler": dict(default=None, metavar="ADDRESS"),
    "engine": dict(default="torch", help="what runs the CNN's forward: torch (fp32, default), torch-nchw, "
                   "torch-bf16 (where the CPU has native bfloat16, or on a GPU), onnxruntime (CPU), or auto: "
                   "the fastest that agreed with fp32 torch in this machine's last `make bench` (measured "
                   "once, about half a minute on two cores, where none is stored)"),
}


def shared_flags(**flags) -> argparse.ArgumentParser:
    """A parent parser (no ``--help``) with the named flags of :data:`SHARED`, see the module."""
    parent = argparse.ArgumentParser(add_help=False)
    for name, value in flags.items():
        settings = {**SHARED[name], **(value if isinstance(value, dict) else
                                        {} if value is True else {"default": value})}
        if settings.get("required"):   # a flag that must be given has no default
            settings.pop("default", None)
        parent.add_argument(f"--{name.replace('_', '-')}", **settings)
    return parent


def command_parser(command: str, doc: str, **flags) -> argparse.ArgumentParser:
    """``hypercolumns <command>``'s parser, described by the first line of ``doc``, with ``flags``."""
    return argparse.ArgumentParser(prog=f"hypercolumns {command}", description=doc.split("\n")[0],
                                   parents=[shared_flags(**flags)])


DATASET_FILES = ("train_annotations", "train_images", "val_annotations", "val_images")


def add_dataset_files(parser: argparse.ArgumentParser) -> None:
    """``--train-annotations COCO.json --train-images DIR`` (and ``--val-...``): your own data, instead of
    ``--data-root``; resolved into a data root by :func:`data_root_of`."""
    group = parser.add_argument_group("your own data (instead of --data-root)")
    for name in DATASET_FILES:
        what = "COCO instances JSON" if name.endswith("annotations") else "the folder its file_names are under"
        group.add_argument(f"--{name.replace('_', '-')}", type=Path, default=None, help=f"{name.split('_')[0]}: {what}")


def data_root_of(parser: argparse.ArgumentParser, flags: dict, work: Path = Path("work/datasets")) -> dict:
    """``flags`` with ``data_root`` set: as given, or, from the dataset-file flags (which it removes), a folder
    in ``work`` named by their paths holding the ``dataset.json`` that describes them
    (:func:`~hypercolumns.data.datasets.describe_dataset`). Exactly one of the two is needed."""
    import hashlib

    from hypercolumns.data.datasets import describe_dataset

    files = {name: flags.pop(name) for name in DATASET_FILES}
    given = {name: path for name, path in files.items() if path is not None}
    if given and flags.get("data_root") is not None:
        parser.error("give --data-root or --train-annotations/--train-images, not both")
    if not given:
        if flags.get("data_root") is None:
            parser.error("give --data-root, or your own data with --train-annotations and --train-images")
        return flags
    if files["train_annotations"] is None or files["train_images"] is None:
        parser.error("give --train-annotations and --train-images together")
    key = hashlib.sha256("\n".join(str(Path(p).absolute()) if p else "" for p in files.values()).encode())
    flags["data_root"] = describe_dataset(Path(work) / key.hexdigest()[:12], **files)
    print(f"data set: {flags['data_root'] / 'dataset.json'}")
    return flags
