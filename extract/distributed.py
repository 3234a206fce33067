"""Stage one on a Dask cluster: one task per missing shard, each writing its own file.

``hypercolumns features --scheduler ADDRESS`` hands the shards that
:func:`~hypercolumns.extract.features.run_features` finds missing to the
workers of an existing ``dask.distributed`` cluster:

- **One task per shard.**  A task carries its boxes and only the records
  they come from; it extracts the rows and writes ``shard-<i>.h5`` itself
  (``shards.write_shard``: a ``.tmp`` of the writer's own, renamed when
  complete; two live copies of a task never write one file), so only a
  small receipt travels back.  The shard layout is the single-process one.
- **Weights once per worker.**  The weights are scattered to every worker
  once; a worker process builds its :class:`FrozenCNN` on its first task and
  keeps it (:func:`worker_cnn`) for the next ones.
- **Retries write the same rows.**  Box seeds depend only on the image and
  the box (``box_sampling.image_rng``), and a task's key on what it writes,
  so a task that Dask reruns after its worker died, or after an exception
  (``retries``), rewrites the same shard; the rename makes the last write win
  whole.

Workers must see the data, the output folder and this package at the same
paths as the client (a shared file system, the same environment).

torch and the extraction code are imported inside the functions that use
them: ``train-grid`` imports :func:`connect` from here without loading torch.
"""
from __future__ import annotations

import gc
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from tqdm import tqdm

from hypercolumns.data.errors import InputError

if TYPE_CHECKING:
    from hypercolumns.extract.config import FeatureConfig
    from hypercolumns.extract.layer_spec import LayerSpec

TASK_RETRIES = 2          # reruns of a task that raised (a worker's death is Dask's to count)

_CNNS: dict = {}          # this worker process's FrozenCNN, keyed by weights, padding, device
_CNNS_LOCK = threading.Lock()


@dataclass
class ShardWork:
    """One shard's boxes, renumbered to index ``records`` (the records they come from)."""

    index: int
    jobs: list
    records: list
    boxes_hash: str


@dataclass
class Extraction:
    """What every shard task of a run shares (the weights travel separately, scattered)."""

    out: Path
    spec: LayerSpec
    config: FeatureConfig
    batch_size: int
    box_rows: Callable
    device: str | None


def connect(address: str):
    """A client of the scheduler at ``address``; InputError naming it when unreachable.

    It waits ``distributed.comm.timeouts.connect`` of Dask's config (30 s
    unless set, e.g. ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s``).
    """
    try:
        from distributed import Client
    except ImportError as error:
        raise InputError(f"--scheduler {address} needs dask.distributed: "
                         "pip install -e '.[dask]' (or `make setup`)") from error
    try:
        return Client(address, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        reason = str(error)
    # a Client that failed to connect is only freed by the cycle collector; left to the
    # interpreter's exit, its __del__ waits 2 s on a stopped event loop
    gc.collect()
    raise InputError(f"cannot reach the Dask scheduler at {address!r} ({reason}); start one "
                     "with `dask scheduler` and give the address it prints")


def write_shards_on_dask(address: str, todo: list, records: list, hashes: list, out: Path,
                         cnn, spec, config: FeatureConfig, batch_size: int, box_rows,
                         device: str | None = None, show_progress: bool = True) -> None:
    """Write the shards of ``todo`` on the cluster at ``address``.

    Parameters
    ----------
    todo : list of (int, list of BoxJob)
        The missing shards: index and boxes (``run_features``' chunks).
    records : list of ImageRecord
        What the boxes' ``record`` fields index.
    hashes : list of str
        Every shard's ``boxes_hash``, by shard index.
    cnn : FrozenCNN
        Its weights are what the workers use (with the config's padding).
    device : str, optional
        The workers' device; default: each worker's own (CUDA when it has one).

    Raises the first task's error (the other tasks are cancelled); shards
    already written stay, complete, for the next run to skip.
    """
    extraction = Extraction(Path(out).absolute(), spec, config, batch_size, box_rows, device)
    works = [shard_work(index, chunk, records, hashes[index]) for index, chunk in todo]
    with connect(address) as client:
        weights = client.scatter({f"weights-{cnn.weights.sha256}": cnn.weights},
                                 broadcast=True)
        (weights,) = weights.values()
        boxes_of = {client.submit(make_shard, work, extraction, weights, retries=TASK_RETRIES,
                                  key=task_key(work, extraction)): len(work.jobs)
                    for work in works}
        _gather(client, boxes_of, show_progress)


def shard_work(index: int, chunk: list, records: list, boxes_hash: str) -> ShardWork:
    """The shard's boxes with only their records (a task must not carry the whole data set)."""
    from hypercolumns.extract.features import BoxJob

    used = sorted({job.record for job in chunk})
    position = {record: i for i, record in enumerate(used)}
    jobs = [BoxJob(position[job.record], job.box, job.instance, job.iou) for job in chunk]
    return ShardWork(index, jobs, [records[i] for i in used], boxes_hash)


def task_key(work: ShardWork, extraction: Extraction) -> str:
    """Names what the task writes: the same shard of the same config into the same folder."""
    where = hashlib.sha256(str(extraction.out).encode()).hexdigest()[:12]
    return (f"hypercolumns-shard-{work.index:05d}-{work.boxes_hash}-"
            f"{extraction.config.compute_hash()}-{where}")


def make_shard(work: ShardWork, extraction: Extraction, weights) -> dict:
    """The task: extract one shard's rows and write the shard atomically; a small receipt back."""
    from hypercolumns.extract.features import ImageCache, extract_shard
    from hypercolumns.extract.shards import shard_path, write_shard

    cnn = worker_cnn(weights, extraction.config.padding, extraction.device, extraction.config.engine,
                     extraction.config.small_box_context)
    rows, boxes = extract_shard(work.jobs, work.records, cnn, extraction.spec, extraction.config,
                                extraction.batch_size, ImageCache(work.records), _NoProgress(),
                                extraction.box_rows)
    path = write_shard(shard_path(extraction.out, work.index), extraction.config, rows, boxes,
                       work.boxes_hash)
    return {"index": work.index, "path": str(path), "rows": int(len(rows["location"]))}


def worker_cnn(weights, padding: int, device: str | None, engine: str, small_box_context):
    """This process's FrozenCNN of ``weights`` on ``engine`` with the config's padding and small-box
    context (every worker runs the forward the shards record), built once (the latest one is kept)."""
    from hypercolumns.extract.cnn import frozen_cnn

    key = (weights.sha256, padding, device, engine, small_box_context)
    with _CNNS_LOCK:
        if key not in _CNNS:
            _CNNS.clear()
            _CNNS[key] = frozen_cnn(weights, padding, device, engine, small_box_context)
        return _CNNS[key]


class _NoProgress:
    def update(self, count: int) -> None:
        pass


def _gather(client, boxes_of: dict, show_progress: bool) -> None:
    """Wait for every task (``{future: its boxes}``) counting crops; on an error cancel the rest."""
    from distributed import as_completed

    try:
        with tqdm(total=sum(boxes_of.values()), unit="crop", desc="features (dask)",
                  disable=not show_progress) as progress:
            for future in as_completed(boxes_of, loop=client.loop):
                future.result()
                progress.update(boxes_of[future])
                future.release()  # else a worker's death would rerun a task that is done
    except BaseException:
        client.cancel(list(boxes_of))
        raise
