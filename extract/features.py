"""Stage one: ``hypercolumns features`` — training rows of hypercolumns into HDF5 shards.

For every training image: jittered boxes around its instances (see
``box_sampling``), each expanded, cropped, warped and passed through the
frozen CNN; at stratified locations of the box's 50 x 50 grid the
hypercolumn and the targets are written as rows.  Boxes are cut into shards
of ``--boxes-per-shard`` in a fixed order, so a rerun skips the shards that
are complete and redoes a half-written one.

Bad input is refused before anything is written (``InputError``, naming the
flag, file or folder): the options (:func:`check_feature_options`), the data
folder and its annotations (read whole, before the CNN), the weights, and the
shards already in ``--out`` (of another config or other boxes).  An image
that turns out unreadable while its box is extracted stops the run with the
shards before it complete, for a rerun to keep.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hypercolumns.data.errors import InputError, require_folder
from hypercolumns.data.files import remove_leftovers
from hypercolumns.extract.box_expansion import SmallBoxContext
from hypercolumns.extract.box_sampling import image_rng, sample_training_boxes, stratified_locations
from hypercolumns.extract.candidate_features import (candidate_inputs, degraded_candidate,
                                                    standin_source)
from hypercolumns.extract.cnn import DEFAULT_PADDING, FrozenCNN, frozen_cnn
from hypercolumns.extract.config import SHARED_MARGIN, FeatureConfig
from hypercolumns.extract.crop import float_image
from hypercolumns.extract.hypercolumn import HEATMAP_SIZE, sample_hypercolumns
from hypercolumns.extract.layer_spec import LayerSpec
from hypercolumns.extract.shared_features import SharedImageCNN
from hypercolumns.extract.shards import (LEFTOVER_PATTERN, boxes_hash, check_shard, check_shard_boxes,
                                         shard_path, shard_totals, write_shard)
from hypercolumns.extract.targets import figure_ground_target

DEFAULT_LAYERS = "pool3:3,conv4_3:1,global"
SAMPLE_GRID = 10
"""Side of the grid of cells of a box's 50 x 50 locations, each of which gets rows."""


@dataclass
class BoxJob:
    """One training box: which record, which box, which instance labels it, and whether its
    crop is mirrored left to right (``flipped``, with ``FeatureConfig.flips``)."""

    record: int
    box: np.ndarray
    instance: int
    iou: float
    flipped: bool = False


def feature_config(cnn: FrozenCNN, spec: LayerSpec, *, rows_per_cell=1, sample_grid=SAMPLE_GRID,
                   seed=0, boxes_per_instance=4, min_iou=0.7,
                   targets=("figure_ground",), flips=False) -> FeatureConfig:
    """The config the shards of ``cnn`` and ``spec`` record."""
    return FeatureConfig(
        network=cnn.name, weights_sha256=cnn.weights.sha256, layer_spec=str(spec),
        blocks=[asdict(block) for block in spec.blocks], feature_dim=spec.dim,
        crop_size=cnn.crop_size, padding=cnn.padding, heatmap_size=HEATMAP_SIZE,
        sample_grid=sample_grid, rows_per_cell=rows_per_cell, seed=seed, targets=targets,
        boxes_per_instance=boxes_per_instance, min_iou=min_iou, feature_source=cnn.feature_source,
        candidate_source=standin_source() if spec.needs_candidates else "none", flips=flips,
        engine=getattr(cnn.per_box, "engine", "torch"),
        small_box_context=getattr(cnn, "small_box_context", SmallBoxContext()))


def plan_boxes(records: list, config: FeatureConfig) -> list:
    """Every training box of every record (none of a crowd region), in a fixed order; with ``config.flips`` each image's
    boxes are followed by the same boxes mirrored (the same sample, so a flip adds no new box)."""
    jobs = []
    for index, record in enumerate(records):
        # crowd regions (COCO's iscrowd, read as difficult) are never targets: no box is drawn for one;
        # VOC's difficult objects alike (none in SBD, PASCAL-Part or coco128-seg, the sets trained on)
        targets = [i for i, instance in enumerate(record.instances) if not instance.difficult]
        if not targets:
            continue
        rng = image_rng(config.seed, record.image_id)
        boxes, instances, ious = sample_training_boxes(
            record.boxes()[targets], (record.height, record.width), config.boxes_per_instance, rng,
            min_iou=config.min_iou)
        image_jobs = [BoxJob(index, box, targets[int(inst)], float(iou))
                      for box, inst, iou in zip(boxes, instances, ious)]
        jobs += image_jobs
        if config.flips:
            jobs += [replace(job, flipped=True) for job in image_jobs]
    return jobs


def mirrored_locations(where: np.ndarray, size: int = HEATMAP_SIZE) -> np.ndarray:
    """Flat ``y * size + x`` locations mirrored left to right: ``x -> size - 1 - x``."""
    y, x = np.divmod(np.asarray(where), size)
    return (y * size + (size - 1 - x)).astype(np.asarray(where).dtype)


class ImageCache:
    """The last few decoded images (boxes come grouped by image); safe to share between threads.

    :meth:`get` gives the decoded uint8 image, :meth:`get_float` its float32
    copy (made once per image, not once per box: the warp sees the same values).
    """

    def __init__(self, records, keep: int = 16):
        self.records, self.keep, self.images, self.floats = records, keep, {}, {}
        self.lock = threading.Lock()

    def get(self, index: int) -> np.ndarray:
        with self.lock:
            image = self.images.get(index)
        if image is None:
            image = self.records[index].load_image()   # outside the lock: threads decode in parallel
            with self.lock:
                if index not in self.images:
                    while len(self.images) >= self.keep:
                        evicted = next(iter(self.images))
                        self.images.pop(evicted)
                        self.floats.pop(evicted, None)
                    self.images[index] = image
                image = self.images[index]
        return image

    def get_float(self, index: int) -> np.ndarray:
        image = self.get(index)
        with self.lock:
            floats = self.floats.get(index)
        if floats is None:
            floats = float_image(image)
            with self.lock:
                if self.images.get(index) is image:
                    floats = self.floats.setdefault(index, floats)
        return floats


def figure_ground_rows(record, instance, expanded_box: np.ndarray, rng: np.random.Generator,
                       config: FeatureConfig) -> tuple[np.ndarray, dict]:
    """The SDS rows of one box: stratified locations and their figure-ground labels.

    Every ``box_rows`` function has this signature and returns ``locations (L,)``
    (flat grid cells) and ``{target: (L,) int8}``; keypoints and parts pass their own.
    """
    where = stratified_locations(rng, config.rows_per_cell, config.sample_grid)
    target = figure_ground_target(instance.mask, expanded_box, record.void)
    return where, {"figure_ground": target.reshape(-1)[where]}


def prepare_batch(jobs, records, images: ImageCache, cnn: FrozenCNN, config: FeatureConfig,
                  box_rows=figure_ground_rows, candidates: bool = False):
    """Crops, each box's locations and labels, the expanded boxes, and candidate inputs (CPU work).

    With ``candidates`` (a spec with System 1's blocks) each box gets a
    stand-in region candidate, its instance's mask degraded
    (:func:`candidate_features.degraded_candidate`), drawn from the box's
    generator after its locations so that these stay those of a spec without
    candidate blocks; the last item is then :func:`candidate_features.candidate_inputs`
    of the batch, else an empty dict.
    """
    locations, labels, expanded, masks = [], [], [], []
    shared = cnn.feature_source.mode == "shared"  # one forward per image, no crops
    for job in jobs:
        record = records[job.record]
        instance = record.instances[job.instance]
        box_expanded = cnn.expand(job.box[None])[0]
        rng = image_rng(config.seed, f"{record.image_id}:{job.box.tobytes().hex()}")
        where, box_labels = box_rows(record, instance, box_expanded, rng, config)
        if job.flipped:  # the label at (y, x) of the box is the mirrored crop's at (y, 49 - x)
            where = mirrored_locations(where)
        if candidates:
            masks.append(degraded_candidate(instance.mask, rng))
        locations.append(where)
        labels.append(box_labels)
        expanded.append(box_expanded)
    expanded = np.stack(expanded)
    crops = None
    if not shared:  # each run of boxes of one image warped from one float32 copy, into one batch
        warped = np.empty((len(jobs), cnn.crop_size, cnn.crop_size, 3), np.float32)
        for start, stop in image_runs(jobs):
            cnn.warp(images.get_float(jobs[start].record), expanded[start:stop], warped[start:stop])
        flipped = [i for i, job in enumerate(jobs) if job.flipped]
        warped[flipped] = warped[flipped, :, ::-1]
        crops = cnn.preprocess(warped)
        if cnn.device.type == "cuda":   # here, off the main thread: its copy to the GPU is then async
            crops = crops.pin_memory()
    inputs = candidate_inputs(masks, expanded) if candidates else {}
    return crops, locations, labels, expanded, inputs


def image_runs(jobs) -> list:
    """``(start, stop)`` of each run of consecutive jobs on one image."""
    starts = [0] + [i for i in range(1, len(jobs)) if jobs[i].record != jobs[i - 1].record]
    return list(zip(starts, starts[1:] + [len(jobs)]))


class HostRows:
    """A batch's rows ``(B, L, D)`` float16 on their way to the host.

    On a GPU the copy into pinned memory is queued behind the batch's forward and
    waited for only in :meth:`take`, which :func:`extract_shard` calls after it has
    queued the next batch, so the GPU is not idle while the host files the rows.
    On a CPU the rows are already there.
    """

    def __init__(self, rows: torch.Tensor):
        self.ready = None
        if rows.device.type == "cuda":
            self.rows = torch.empty(rows.shape, dtype=rows.dtype, pin_memory=True)
            self.rows.copy_(rows, non_blocking=True)
            self.ready = torch.cuda.Event()
            self.ready.record()
        else:
            self.rows = rows

    def take(self) -> list:
        """Each box's rows ``(L, D)`` as numpy, once the copy is done."""
        if self.ready is not None:
            self.ready.synchronize()
        return list(self.rows.numpy())


def sample_batch(outputs: dict, spec: LayerSpec, network: str, locations: list, device) -> HostRows | list:
    """Each box's rows ``(L_i, D)`` float16: one gather for the batch when the L_i agree, its copy to
    the host pending (:class:`HostRows`); else a list, box by box."""
    if len({len(where) for where in locations}) == 1:
        where = torch.from_numpy(np.stack(locations)).to(device)
        return HostRows(sample_hypercolumns(outputs, spec, network, where).to(torch.float16))
    return [sample_hypercolumns({k: v[i:i + 1] for k, v in outputs.items()}, spec, network,
                                torch.from_numpy(where)[None].to(device))[0]
            .to(torch.float16).cpu().numpy() for i, where in enumerate(locations)]


def taken(rows: HostRows | list | None) -> list:
    """The boxes' rows of :func:`sample_batch`'s result (none for None)."""
    if rows is None:
        return []
    return rows.take() if isinstance(rows, HostRows) else rows


def image_grouped_outputs(cnn, jobs, images: ImageCache, expanded: np.ndarray, layers) -> dict:
    """Layer outputs of a batch from ``cnn.box_outputs``, one call per run of boxes of one image."""
    parts = [cnn.box_outputs(images.get(jobs[start].record), expanded[start:stop], layers)
             for start, stop in image_runs(jobs)]
    return {name: torch.cat([part[name] for part in parts]) for name in parts[0]}


def prepare_threads() -> int:
    """Threads preparing batches: ``$HYPERCOLUMNS_PREPARE_THREADS``, else half the CPUs (1..8)."""
    value = os.environ.get("HYPERCOLUMNS_PREPARE_THREADS")
    if value:
        return max(1, int(value))
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def extract_shard(jobs, records, cnn: FrozenCNN, spec: LayerSpec, config: FeatureConfig,
                  batch_size: int, images: ImageCache, progress,
                  box_rows=figure_ground_rows) -> tuple[dict, dict]:
    """Rows and box table of one shard; CPU preparation of the next batches overlaps the forward.

    :func:`prepare_threads` threads prepare consecutive batches (cv2 and numpy
    release the GIL), up to two per thread ahead of the forward; results are
    taken in batch order, and each batch's preparation depends only on its
    own boxes, so the rows are the same as with one thread.
    """
    layers = spec.network_layers(cnn.name)
    batches = [jobs[i:i + batch_size] for i in range(0, len(jobs), batch_size)]
    features, locations, labels, expanded = [], [], [], []
    previous_rows = None
    threads = max(1, min(prepare_threads(), len(batches)))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        submissions = (pool.submit(prepare_batch, batch, records, images, cnn, config, box_rows,
                                   spec.needs_candidates) for batch in batches)
        pending = deque(islice(submissions, 2 * threads))
        for index in range(len(batches)):
            crops, where, box_labels, boxes_expanded, candidates = pending.popleft().result()
            pending.extend(islice(submissions, 1))
            outputs = (cnn.forward(crops, layers) if crops is not None else
                       image_grouped_outputs(cnn, batches[index], images, boxes_expanded, layers))
            outputs.update({name: tensor.to(cnn.device) for name, tensor in candidates.items()})
            batch_rows = sample_batch(outputs, spec, cnn.name, where, cnn.device)
            features += taken(previous_rows)   # the batch before, while this one runs on a GPU
            previous_rows = batch_rows
            locations += where
            labels += box_labels
            expanded.append(boxes_expanded)
            progress.update(len(batches[index]))
        features += taken(previous_rows)
    rows = {"features": np.concatenate(features), "location": np.concatenate(locations),
            "box_index": np.repeat(np.arange(len(jobs)), [len(w) for w in locations]),
            "labels": {target: np.concatenate([box[target] for box in labels])
                       for target in labels[0]}}
    boxes = {
        "image_id": [records[j.record].image_id for j in jobs],
        "dataset": [getattr(records[j.record], "dataset", "") or "" for j in jobs],
        "category": [records[j.record].instances[j.instance].category for j in jobs],
        "box": np.stack([j.box for j in jobs]), "expanded_box": np.concatenate(expanded),
        "instance": [j.instance for j in jobs], "iou": [j.iou for j in jobs],
    }
    if config.flips:
        boxes["flipped"] = [j.flipped for j in jobs]
    return rows, boxes


def run_features(records: list, out: Path, cnn: FrozenCNN, spec: LayerSpec, config: FeatureConfig,
                 boxes_per_shard: int = 128, batch_size: int = 16, show_progress: bool = True,
                 box_rows=figure_ground_rows, scheduler: str | None = None,
                 worker_device: str | None = None) -> dict:
    """Write every shard not already complete; returns a summary dict (counts read from the shards).

    ``box_rows`` gives each box's locations and labels (:func:`figure_ground_rows`).
    With ``scheduler`` (a Dask scheduler's address) the missing shards are
    written by that cluster's workers, one task each, on ``worker_device``
    (default: each worker's own), see :mod:`~hypercolumns.extract.distributed`;
    without it, here, one after the other.  The shards are the same either way.
    """
    out = Path(out)
    jobs = plan_boxes(records, config)
    if not jobs:
        raise InputError("no training boxes: the records have no instances large enough")
    chunks = [jobs[i:i + boxes_per_shard] for i in range(0, len(jobs), boxes_per_shard)]
    hashes = [boxes_hash([records[j.record].image_id for j in chunk], np.stack([j.box for j in chunk]))
              for chunk in chunks]
    extra = [p for p in out.glob("shard-*.h5") if p not in {shard_path(out, i) for i in range(len(chunks))}]
    if extra:
        raise InputError(f"{extra[0]} is beyond the {len(chunks)} shards this run plans; the data or "
                         "--boxes-per-shard changed: use another --out folder or delete the shards")
    todo = []
    for index, chunk in enumerate(chunks):
        path = shard_path(out, index)
        if path.is_file():
            check_shard(path, config)
            check_shard_boxes(path, hashes[index])
        else:
            todo.append((index, chunk))
    out.mkdir(parents=True, exist_ok=True)       # only now: a refused run leaves no folder
    start, crops_done = time.perf_counter(), sum(len(chunk) for _, chunk in todo)
    remove_leftovers(out, LEFTOVER_PATTERN)      # of an earlier run's dead writers
    if scheduler and todo:
        from hypercolumns.extract.distributed import write_shards_on_dask

        write_shards_on_dask(scheduler, todo, records, hashes, out, cnn, spec, config, batch_size,
                             box_rows, worker_device, show_progress)
    else:
        _write_shards_here(todo, records, hashes, out, cnn, spec, config, batch_size, box_rows,
                           show_progress)
    remove_leftovers(out, LEFTOVER_PATTERN)      # of this run's, e.g. a killed Dask worker's
    seconds = time.perf_counter() - start
    paths = [shard_path(out, i) for i in range(len(chunks))]
    return {
        "boxes": len(jobs), "shards": len(chunks), "shards_written": len(todo),
        "rows": shard_totals(out)["rows"], "paths": [str(p) for p in paths],
        "bytes": sum(p.stat().st_size for p in paths), "seconds": seconds,
        "crops_per_s": crops_done / seconds if crops_done else 0.0, "out": str(out),
    }


def _write_shards_here(todo, records, hashes, out, cnn, spec, config, batch_size, box_rows,
                       show_progress) -> None:
    """The shards of ``todo`` (index, boxes) in this process, one after the other.

    Each finished shard is written by a background thread while the next one's
    boxes go through the CNN (the HDF5 write is host work the forward need not
    wait for: about 0.5 ms per box, measured on a GPU).  At most one shard waits
    behind the one being written, so memory holds at most three shards' rows.
    A write that fails stops the run at the next shard; the writes already
    submitted finish first, each renamed only when complete.
    """
    images = ImageCache(records)
    with tqdm(total=sum(len(chunk) for _, chunk in todo), unit="crop", disable=not show_progress,
              desc="features") as progress, ThreadPoolExecutor(max_workers=1) as writer:
        writes: deque = deque()
        for index, chunk in todo:
            rows, boxes = extract_shard(chunk, records, cnn, spec, config, batch_size, images,
                                        progress, box_rows)
            writes.append(writer.submit(write_shard, shard_path(out, index), config, rows, boxes,
                                        hashes[index]))
            while len(writes) > 1:
                writes.popleft().result()   # re-raises a failed write here
        while writes:
            writes.popleft().result()


def check_feature_options(*, boxes_per_instance: int, min_iou: float, rows_per_cell: int,
                          boxes_per_shard: int, batch_size: int, limit_images: int | None,
                          shared_features: float | None, shared_margin: int,
                          scheduler: str | None, flips: bool = False) -> None:
    """InputError naming the flag of ``hypercolumns features`` whose value cannot work."""
    cells = (HEATMAP_SIZE // SAMPLE_GRID) ** 2        # locations of one sampling-grid cell
    if boxes_per_instance < 1:
        raise InputError(f"--boxes-per-instance must be >= 1, got {boxes_per_instance}")
    if not 0 <= min_iou <= 1:
        raise InputError(f"--min-iou must be in [0, 1], got {min_iou}")
    if not 1 <= rows_per_cell <= cells:
        raise InputError(f"--rows-per-cell must be in 1..{cells} (the locations of a cell), "
                         f"got {rows_per_cell}")
    if boxes_per_shard < 1 or batch_size < 1:
        raise InputError(f"--boxes-per-shard and --batch-size must be >= 1, got {boxes_per_shard} "
                         f"and {batch_size}")
    if limit_images is not None and limit_images < 1:
        raise InputError(f"--limit-images must be >= 1, got {limit_images}")
    if shared_features is not None and not shared_features > 0:
        raise InputError(f"--shared-features SCALE must be > 0 px, got {shared_features}")
    if shared_margin < 0:
        raise InputError(f"--shared-margin must be >= 0 px, got {shared_margin}")
    if scheduler and shared_features:
        raise InputError("--shared-features runs in one process; drop --scheduler or it")
    if flips and shared_features:
        raise InputError("--flips mirrors each box's crop; --shared-features makes no crops: drop one")


def default_flips(shared_features: float | None, spec: LayerSpec) -> bool:
    """Whether ``features`` mirrors the training boxes when not told: wherever a crop can be mirrored
    (not with shared features, which make no crops, nor with candidate blocks, which would need
    mirrored candidates).  Chosen by ``compare-quality``'s inner folds on the training images."""
    return not shared_features and not spec.needs_candidates


def extract_features(data_root: Path, out: Path, weights=None, layers: str = DEFAULT_LAYERS,
                     padding: int = DEFAULT_PADDING, boxes_per_instance: int = 4, min_iou: float = 0.7,
                     rows_per_cell: int = 1, seed: int = 0, boxes_per_shard: int = 128,
                     batch_size: int = 16, limit_images: int | None = None, device=None,
                     scheduler: str | None = None, shared_features: float | None = None,
                     shared_margin: int = SHARED_MARGIN, flips: bool | None = None, engine: str = "torch",
                     small_box_context=None) -> dict:
    """Stage one on the training records of ``data_root`` into ``out``; prints and returns the summary.

    ``shared_features`` (a scale) runs one CNN forward per image instead of one
    per box; ``scheduler`` a Dask scheduler whose workers write the shards;
    ``flips`` writes each box a second time, mirrored (twice the rows; not the paper's protocol, the
    default since ``compare-quality``'s inner folds chose it; None: on wherever crops can be
    mirrored, i.e. without ``shared_features`` and candidate blocks; False: the paper's protocol);
    ``engine`` runs the forward (a name or ``auto``, :class:`~hypercolumns.extract.cnn.FrozenCNN`),
    recorded in the config; ``small_box_context`` (a
    :class:`~hypercolumns.extract.box_expansion.SmallBoxContext` or its ``(below, padding)``; None: none)
    more context for small boxes, recorded too, and used at test time by every grid trained on these
    shards (not the paper's protocol).
    """
    from hypercolumns.data.datasets import load_training_records

    check_feature_options(boxes_per_instance=boxes_per_instance, min_iou=min_iou,
                          rows_per_cell=rows_per_cell, boxes_per_shard=boxes_per_shard,
                          batch_size=batch_size, limit_images=limit_images,
                          shared_features=shared_features, shared_margin=shared_margin,
                          scheduler=scheduler, flips=flips)
    data_root = require_folder(Path(data_root).absolute(), "data root",
                               "give --data-root the folder `make data` filled, or the shared data")
    spec = LayerSpec.parse(layers)     # a malformed --layers fails before the data is read
    try:   # as is a malformed --small-box-context
        if not isinstance(small_box_context, SmallBoxContext):
            small_box_context = SmallBoxContext(*small_box_context or ())
    except ValueError as error:
        raise InputError(f"--small-box-context: {error}") from None
    if flips is None:
        flips = default_flips(shared_features, spec)
    if flips and spec.needs_candidates:
        raise InputError("--flips would need mirrored region candidates; drop it or the candidate blocks")
    if scheduler:  # an unreachable address should fail now, not after loading the data
        from hypercolumns.extract.distributed import connect
        connect(scheduler).close()
    records = load_training_records(data_root)
    if limit_images:
        records = records[:limit_images]
    # with a scheduler this CNN only describes the config: the workers build their own
    cnn = frozen_cnn(weights, padding, "cpu" if scheduler else device, engine, small_box_context)
    for flag, pad in (("--padding", padding), ("--small-box-context's padding", small_box_context.padding)):
        if not 0 <= 2 * pad < cnn.crop_size:
            raise InputError(f"{flag} {pad} leaves no room in a {cnn.crop_size}px crop")
    if shared_features:
        cnn = SharedImageCNN(cnn, scale=shared_features, margin=shared_margin)
    spec = spec.resolve(cnn.network)
    config = feature_config(cnn, spec, rows_per_cell=rows_per_cell, seed=seed,
                            boxes_per_instance=boxes_per_instance, min_iou=min_iou, flips=flips)
    summary = run_features(records, out, cnn, spec, config, boxes_per_shard, batch_size,
                           scheduler=scheduler, worker_device=device)
    where = f"the Dask cluster at {scheduler}" if scheduler else cnn.device
    print(f"features: {summary['boxes']} boxes, {summary['rows']} rows, "
          f"{summary['bytes'] / 1e6:.1f} MB, {summary['seconds']:.1f} s, "
          f"{summary['crops_per_s']:.2f} crops/s ({summary['shards_written']} of "
          f"{summary['shards']} shards written) on {where}")
    print(f"wrote {summary['out']}/shard-*.h5")
    return summary
