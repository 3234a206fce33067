"""HDF5 shards of training rows: the file stage one writes and stage two reads.

Schema ``hypercolumns.shard/1`` (one file per shard, ``shard-00000.h5``, ...)
--------------------------------------------------------------------------
Datasets (N rows, B boxes):

=========================  ==============  =====================================
``features``               (N, D) float16  hypercolumns, blocks as in ``blocks``
``labels/<target>``        (N,) int8       1 / 0, -1 = ignore (e.g. VOC void)
``location``               (N,) int16      ``y * 50 + x`` in the box's 50x50 grid
``box_index``              (N,) int32      row of the ``boxes/*`` tables
``boxes/image_id``         (B,) str        the data set's image id
``boxes/dataset``          (B,) str        which data set the image came from
``boxes/category``         (B,) str        class of the labelling instance
``boxes/box``              (B, 4) float32  sampled box x0, y0, x1, y1 (image px)
``boxes/expanded_box``     (B, 4) float32  the box the crop and grid cover
``boxes/instance``         (B,) int32      index of the labelling instance
``boxes/iou``              (B,) float32    box IoU with that instance
``boxes/flipped``          (B,) int8       1: the crop was mirrored left to right
                                           (only in shards of a ``flips`` config)
=========================  ==============  =====================================

Attributes: ``schema``, ``config_hash``, ``boxes_hash`` (which boxes the
shard holds), ``complete = 1`` and the feature config's recorded keys
(:meth:`FeatureConfig.recorded <hypercolumns.extract.config.FeatureConfig.recorded>`:
network, weights, layer spec and blocks (JSON with offsets and sizes), crop,
padding, sampling, targets; ``feature_source``, ``candidate_source``,
``flips`` and ``engine`` where not their defaults).

A shard is written to a temporary ``<name>.<pid>-<random>.tmp`` of its
writer's own and renamed when complete (``atomic_file(private=True)``: two
live copies of one Dask task must not share it), so a shard on disk under
its final name is whole; a leftover ``.tmp`` is a crash, is redone, and is
deleted by the next ``features`` run (:data:`LEFTOVER_PATTERN`).  Opening a shard checks its attributes against the current config
and refuses a mismatch, naming each differing key.

Every read goes through :func:`open_shard`, so a shard that is missing,
truncated, not HDF5 or of another schema is refused with an
:class:`~hypercolumns.data.errors.InputError` naming it, in whichever process
reads it (:mod:`~hypercolumns.extract.hdf5_reading`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np

from hypercolumns.data.errors import InputError, MissingFileError, require_folder
from hypercolumns.data.files import atomic_file
from hypercolumns.extract.config import CONFIG_KEYS, OPTIONAL_KEYS, FeatureConfig
from hypercolumns.extract.hdf5_reading import open_schema_file, reading_hdf5, take_rows

SCHEMA = "hypercolumns.shard/1"
WHAT = "hypercolumns shard"  # what the messages call a shard
STRING = h5py.string_dtype()

LEFTOVER_PATTERN = "shard-*.tmp"
"""Temporary files of shard writers that died (``atomic_file(private=True)`` names)."""


REMEDY = "use another --out folder, or delete the shards to recompute them"


def shard_path(folder: Path, index: int) -> Path:
    return Path(folder) / f"shard-{index:05d}.h5"


def open_shard(path: Path):
    """A shard open for reading (``with open_shard(path) as f``); any fault of the file met
    inside is an InputError naming it (:func:`~hypercolumns.extract.hdf5_reading.reading_hdf5`)."""
    return reading_hdf5(path, WHAT)


def write_shard(path: Path, config: FeatureConfig, rows: dict, boxes: dict, boxes_hash: str = "") -> Path:
    """Write one complete shard atomically.

    Parameters
    ----------
    config : FeatureConfig
    rows : dict
        ``features`` (N, D) float16, ``location`` (N,), ``box_index`` (N,),
        ``labels`` dict of target name -> (N,) int8.
    boxes : dict
        ``image_id``, ``dataset``, ``category`` (lists of str), ``box``,
        ``expanded_box`` (B, 4), ``instance`` (B,), ``iou`` (B,).
    boxes_hash : str
        Identifies which boxes the shard holds (see :func:`boxes_hash`), so a
        rerun that plans other boxes for this shard can tell.
    """
    path = Path(path)
    with atomic_file(path, private=True) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema"] = SCHEMA
        f.attrs["config_hash"] = config.compute_hash()
        f.attrs["boxes_hash"] = boxes_hash
        for key, value in config.recorded().items():
            f.attrs[key] = json.dumps(value) if isinstance(value, (list, dict)) else value
        n_rows = len(rows["location"])
        f.create_dataset("features", data=np.asarray(rows["features"], np.float16),
                         chunks=(min(max(n_rows, 1), 1024), config.feature_dim))
        f.create_dataset("location", data=np.asarray(rows["location"], np.int16))
        f.create_dataset("box_index", data=np.asarray(rows["box_index"], np.int32))
        for target, labels in rows["labels"].items():
            f.create_dataset(f"labels/{target}", data=np.asarray(labels, np.int8))
        for key in ("image_id", "dataset", "category"):
            f.create_dataset(f"boxes/{key}", data=np.asarray(boxes[key], dtype=object), dtype=STRING)
        f.create_dataset("boxes/box", data=np.asarray(boxes["box"], np.float32).reshape(-1, 4))
        f.create_dataset("boxes/expanded_box",
                         data=np.asarray(boxes["expanded_box"], np.float32).reshape(-1, 4))
        f.create_dataset("boxes/instance", data=np.asarray(boxes["instance"], np.int32))
        f.create_dataset("boxes/iou", data=np.asarray(boxes["iou"], np.float32))
        if "flipped" in boxes:
            f.create_dataset("boxes/flipped", data=np.asarray(boxes["flipped"], np.int8))
        f.attrs["complete"] = 1
    return path


def boxes_hash(image_ids: list, boxes: np.ndarray) -> str:
    """sha256 (16 hex digits) of a shard's planned boxes: their images and coordinates."""
    digest = hashlib.sha256("\n".join(image_ids).encode())
    digest.update(np.asarray(boxes, np.float64).tobytes())
    return digest.hexdigest()[:16]


def check_shard_boxes(path: Path, expected_hash: str) -> None:
    """InputError if a shard holds other boxes than the ones planned for it."""
    with open_shard(path) as f:
        stored = f.attrs.get("boxes_hash", "")
    if stored != expected_hash:
        raise InputError(f"{path} holds other boxes than this run plans for it (the data, "
                         f"--limit-images or --boxes-per-shard changed since it was written); {REMEDY}")


def read_config(path: Path) -> FeatureConfig:
    """The feature config stored in a shard's attributes, with its recorded ``config_hash``.

    InputError naming the shard if it is not one (another schema, not HDF5, damaged).
    """
    with open_schema_file(path, SCHEMA, WHAT) as f:
        values = {key: _value(key, f.attrs[key]) for key in CONFIG_KEYS}
        values.update({key: _value(key, f.attrs[key]) for key in OPTIONAL_KEYS if key in f.attrs})
        values["config_hash"] = _value("config_hash", f.attrs["config_hash"])
        return FeatureConfig.from_dict(values)


def _value(key: str, value):
    """An attribute as the config holds it: str, JSON decoded, or a Python number."""
    if isinstance(value, bytes):
        value = value.decode()
    if key in ("targets", "blocks"):
        return json.loads(value)
    return value.item() if isinstance(value, np.generic) else value


def check_shard(path: Path, expected: FeatureConfig) -> None:
    """InputError naming each config key where the shard differs from ``expected``."""
    differences = read_config(path).differences(expected)
    if differences:
        raise InputError(f"{path} was made with another feature config ({'; '.join(differences)}); "
                         + REMEDY)


def list_shards(folder: Path) -> list[Path]:
    """Complete shards of a folder, in order (leftover ``.tmp`` files are not shards)."""
    folder = require_folder(folder, "shard folder", "run `make features`")
    shards = sorted(folder.glob("shard-*.h5"))
    if not shards:
        raise MissingFileError(f"no shards in {folder} (run `make features`)")
    return shards


def shards_config(shards: list[Path]) -> FeatureConfig:
    """The config common to all shards; InputError naming a shard that differs, and both hashes."""
    first = read_config(shards[0])
    for path in shards[1:]:
        config = read_config(path)
        differences = config.differences(first, mine=Path(path).name, theirs=Path(shards[0]).name)
        if differences or config.config_hash != first.config_hash:
            raise InputError(
                f"{path} was made with another feature config (config_hash {config.config_hash}) "
                f"than {shards[0]} ({first.config_hash})"
                + (f": {'; '.join(differences)}" if differences else "")
                + "; a folder holds the shards of one `hypercolumns features` run")
    return first


def image_rows(shard_file, image_ids) -> np.ndarray:
    """Whether each row of an open shard comes from a box of one of ``image_ids``, shape (N,), bool."""
    image_of_box = shard_file["boxes/image_id"].asstr()[:]
    return np.isin(image_of_box, list(image_ids))[shard_file["box_index"][:]]


def target_labels(shard_file, path: Path, target: str) -> np.ndarray:
    """``labels/<target>`` of the open shard at ``path``; InputError naming its targets if absent."""
    if f"labels/{target}" not in shard_file:
        raise InputError(f"{path} has no labels for target {target!r}; "
                         f"it has {sorted(shard_file['labels'])}")
    return shard_file[f"labels/{target}"][:]


def read_rows(path: Path, target: str = "figure_ground", mask=None) -> dict:
    """Rows of one shard with a known label for ``target``.

    Parameters
    ----------
    mask : callable, optional
        ``mask(shard_file) -> (N,) bool`` selecting rows before they are read
        (e.g. one grid cell), so only those features leave the disk.

    Returns
    -------
    dict
        ``features`` (M, D) float16, ``labels`` (M,) int8 in {0, 1},
        ``location`` (M,) int16, ``box_index`` (M,) int32, ``image_id``
        (M,) object (the box's image), ``category`` (M,) object.
    """
    with open_shard(path) as f:
        labels = target_labels(f, path, target)
        keep = labels >= 0
        if mask is not None:
            keep &= mask(f)
        index = np.flatnonzero(keep)
        box_index = f["box_index"][:][index]
        image_ids = f["boxes/image_id"].asstr()[:]
        categories = f["boxes/category"].asstr()[:]
        return {
            "features": take_rows(f["features"], index) if index.size else
            np.zeros((0, f["features"].shape[1]), np.float16),
            "labels": labels[index],
            "location": f["location"][:][index],
            "box_index": box_index,
            "image_id": image_ids[box_index],
            "category": categories[box_index],
        }


def shard_totals(shards_dir: Path) -> dict:
    """``{"boxes": B, "rows": N}`` summed over the shards of a folder."""
    totals = {"boxes": 0, "rows": 0}
    for shard in list_shards(shards_dir):
        with open_shard(shard) as f:
            totals["boxes"] += int(f["boxes/box"].shape[0])
            totals["rows"] += int(f["location"].shape[0])
    return totals
