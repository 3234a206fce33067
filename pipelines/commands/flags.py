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
                   "the fastest that agreed with fp32 torch in this machine's last `make bench`"),
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
