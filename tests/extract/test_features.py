"""Stage one end to end on synthetic images: targets, box sampling, shards, crash and resume."""
import multiprocessing
import os

import cv2
import h5py
import numpy as np
import pytest
import torch

from hypercolumns.data.boxes import box_iou
from hypercolumns.data.errors import InputError
from hypercolumns.data.records import ImageRecord, Instance
from hypercolumns.extract.box_sampling import image_rng, sample_training_boxes, stratified_locations
from hypercolumns.extract.cnn import FrozenCNN
from hypercolumns.extract.features import feature_config, plan_boxes, run_features
from hypercolumns.extract.shards import check_shard, list_shards, read_rows, shards_config
from hypercolumns.extract.targets import IGNORE, figure_ground_target, keypoint_target


def test_figure_ground_of_a_box_sticking_out_of_the_image():
    mask = np.zeros((10, 10), bool)
    mask[:, 5:] = True          # right half of the image is the object
    void = np.zeros((10, 10), bool)
    void[0, :] = True           # top row is VOC void
    # a box from x = 0 to 20 (the right half lies outside the image), y = 0 to 10
    target = figure_ground_target(mask, np.array([0.0, 0.0, 20.0, 10.0]), void)
    # cell x covers image x = (x + 0.5) * 0.4: cells 0..11 -> x < 5 (background),
    # cells 12..24 -> 5 <= x < 10 (object), cells 25..49 -> outside the image (background)
    assert (target[5:, :12] == 0).all()
    assert (target[5:, 12:25] == 1).all()
    assert (target[5:, 25:] == 0).all()
    # cell rows 0..4 have centres (y + 0.5) * 0.2 < 1, i.e. in the void row -> ignored,
    # except where they lie outside the image (background there)
    assert (target[:5, :25] == IGNORE).all()
    assert (target[:5, 25:] == 0).all()


def test_keypoint_target_positive_ring_and_negatives():
    box = np.array([0.0, 0.0, 100.0, 100.0])
    target = keypoint_target((30.2, 60.7, 1), box, radius=0.1)
    # positive at the cell containing the keypoint: x = 30.2 -> cell 15, y = 60.7 -> cell 30
    assert target[30, 15] == 1 and (target == 1).sum() == 1
    # within 0.1 * diagonal (14.14 px = 7.07 cells) ignored, beyond negative
    assert target[30, 15 + 6] == IGNORE and target[30, 15 + 8] == 0
    assert (keypoint_target(None, box) == 0).all()
    invisible = keypoint_target((30.2, 60.7, 0), box)
    assert (invisible == 1).sum() == 0 and invisible[30, 15] == IGNORE


def test_sampled_boxes_overlap_their_instance():
    gt = np.array([[10, 10, 60, 80], [50, 20, 120, 90], [0, 0, 10, 10]], float)
    boxes, instance, iou = sample_training_boxes(gt, (100, 130), 5, np.random.default_rng(0))
    assert set(instance) == {0, 1}          # the 10 px instance is below min_side
    overlaps = box_iou(boxes, gt)
    assert (overlaps.argmax(axis=1) == instance).all()
    np.testing.assert_allclose(overlaps.max(axis=1), iou)
    assert (iou >= 0.7).all() and len(boxes) == 10


def test_stratified_locations_cover_every_cell():
    locations = stratified_locations(np.random.default_rng(0), 2)
    cells = (locations // 50 // 5) * 10 + (locations % 50) // 5
    assert np.bincount(cells, minlength=100).tolist() == [2] * 100
    assert len(set(locations.tolist())) == 200


def synthetic_records(tmp_path, count=3):
    records = []
    rng = np.random.default_rng(0)
    for index in range(count):
        image = rng.integers(0, 255, size=(90, 120, 3), dtype=np.uint8)
        mask = np.zeros((90, 120), bool)
        cv2.ellipse(mask.view(np.uint8), (60, 45), (30 + index, 25), 0, 0, 360, 1, -1)
        image[mask] = (200, 30, 30)
        path = tmp_path / f"img{index}.png"
        cv2.imwrite(str(path), image[..., ::-1])
        records.append(ImageRecord(f"img{index}", path, 90, 120, [Instance(mask, "thing")]))
    return records


def make_config(cnn, spec, **overrides):
    return feature_config(cnn, spec, boxes_per_instance=2, **overrides)


def run(records, folder, cnn, spec, config):
    return run_features(records, folder, cnn, spec, config, boxes_per_shard=2, batch_size=2,
                        show_progress=False)


def test_rows_carry_the_sampled_hypercolumn_and_labels(tmp_path, tiny_cnn):
    cnn, spec = tiny_cnn
    records = synthetic_records(tmp_path)
    config = make_config(cnn, spec)
    summary = run(records, tmp_path / "shards", cnn, spec, config)
    jobs = plan_boxes(records, config)
    assert summary["boxes"] == len(jobs) == 6 and summary["shards"] == 3
    shards = list_shards(tmp_path / "shards")
    assert shards_config(shards).config_hash == h5py.File(shards[0])["/"].attrs["config_hash"]
    rows = read_rows(shards[0])
    assert rows["features"].shape == (200, spec.dim) and rows["features"].dtype == np.float16
    # recompute box 0's first row independently: crop, forward, dense hypercolumn
    from hypercolumns.extract.hypercolumn import dense_hypercolumns
    from hypercolumns.extract.targets import figure_ground_target as fg
    job = jobs[0]
    expanded = cnn.expand(job.box[None])
    outputs = cnn.forward(cnn.crops(records[0].load_image(), expanded), spec.network_layers("vgg16"))
    dense = dense_hypercolumns(outputs, spec, "vgg16")[0].flatten(1).T.numpy()
    location = rows["location"][0]
    np.testing.assert_allclose(rows["features"][0].astype(np.float32), dense[location], rtol=2e-3, atol=1e-2)
    label = fg(records[0].instances[0].mask, expanded[0]).reshape(-1)[location]
    assert rows["labels"][0] == label
    with h5py.File(shards[0]) as f:
        assert f["labels/figure_ground"][:].min() >= 0 and 0 < f["labels/figure_ground"][:].mean() < 1


def crash_during_second_shard(records, folder, cnn, spec, config):
    written = []
    original = h5py.Group.create_dataset

    def dying_create_dataset(self, name, *args, **kwargs):
        if name == "location":
            written.append(name)
            if len(written) == 2:   # the second shard's writer dies mid-file
                os._exit(17)
        return original(self, name, *args, **kwargs)

    h5py.Group.create_dataset = dying_create_dataset
    run(records, folder, cnn, spec, config)


def test_a_crash_mid_shard_leaves_no_corrupt_shard_and_resumes(tmp_path, tiny_cnn):
    cnn, spec = tiny_cnn
    records = synthetic_records(tmp_path)
    config = make_config(cnn, spec)
    folder = tmp_path / "crashed"
    child = multiprocessing.get_context("spawn").Process(
        target=crash_during_second_shard, args=(records, folder, cnn, spec, config))
    child.start()
    child.join(300)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 17
    assert len(list(folder.glob("shard-00001.h5.*.tmp"))) == 1          # the dead writer's own
    assert [p.name for p in list_shards(folder)] == ["shard-00000.h5"]
    resumed = run(records, folder, cnn, spec, config)
    assert resumed["shards_written"] == 2
    assert not list(folder.glob("*.tmp"))
    clean = tmp_path / "clean"
    run(records, clean, cnn, spec, config)
    for a, b in zip(list_shards(folder), list_shards(clean)):
        np.testing.assert_array_equal(read_rows(a)["features"], read_rows(b)["features"])
    again = run(records, folder, cnn, spec, config)
    assert again["shards_written"] == 0


def test_a_mismatched_config_is_refused_naming_the_difference(tmp_path, tiny_cnn):
    cnn, spec = tiny_cnn
    records = synthetic_records(tmp_path, count=1)
    folder = tmp_path / "shards"
    run(records, folder, cnn, spec, make_config(cnn, spec))
    other = make_config(cnn, spec, seed=5)
    with pytest.raises(InputError, match=r"seed: shard has 0, current config 5"):
        run(records, folder, cnn, spec, other)
    with pytest.raises(InputError, match="seed"):
        check_shard(list_shards(folder)[0], other)
    assert image_rng(0, "a").integers(1000) == image_rng(0, "a").integers(1000)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_rows_agree_with_cpu_rows(tmp_path, tiny_cnn):
    cnn_cpu, spec = tiny_cnn
    cnn_gpu = FrozenCNN(cnn_cpu.weights, padding=16, device="cuda")
    records = synthetic_records(tmp_path, count=1)
    config = make_config(cnn_cpu, spec)
    run(records, tmp_path / "cpu", cnn_cpu, spec, config)
    run(records, tmp_path / "gpu", cnn_gpu, spec, config)
    for a, b in zip(list_shards(tmp_path / "cpu"), list_shards(tmp_path / "gpu")):
        rows_cpu, rows_gpu = read_rows(a), read_rows(b)
        np.testing.assert_array_equal(rows_cpu["labels"], rows_gpu["labels"])
        np.testing.assert_allclose(rows_cpu["features"].astype(np.float32),
                                   rows_gpu["features"].astype(np.float32), rtol=1e-2, atol=1e-2)


def test_a_rerun_planning_other_boxes_is_refused(tmp_path, tiny_cnn):
    cnn, spec = tiny_cnn
    records = synthetic_records(tmp_path)
    config = make_config(cnn, spec)
    folder = tmp_path / "shards"
    run(records[1:2], folder, cnn, spec, config)          # image 1's 2 boxes in shard 0
    with pytest.raises(InputError, match="other boxes"):   # now shard 0 would hold image 0's
        run(records, folder, cnn, spec, config)
    run(records[1:2], folder, cnn, spec, config)          # the same plan again is fine
    (folder / "shard-00007.h5").write_bytes(b"")          # a shard no plan of this run makes
    with pytest.raises(InputError, match="beyond"):
        run(records[1:2], folder, cnn, spec, config)


def test_shared_mode_rows_are_the_shared_maps_sampled_and_the_mode_is_recorded(tmp_path, tiny_cnn):
    from hypercolumns.extract.hypercolumn import sample_hypercolumns
    from hypercolumns.extract.shared_features import SharedImageCNN

    cnn, spec = tiny_cnn
    shared = SharedImageCNN(cnn, scale=96)
    records = synthetic_records(tmp_path)
    config = make_config(shared, spec)
    assert config.feature_source == shared.feature_source
    # batches of 3 boxes span two images: the rows must not depend on how batches fall
    run_features(records, tmp_path / "shared", shared, spec, config, boxes_per_shard=6,
                 batch_size=3, show_progress=False)
    rows = read_rows(list_shards(tmp_path / "shared")[0])
    with h5py.File(list_shards(tmp_path / "shared")[0]) as f:
        assert f.attrs["feature_source"] == "shared:scale=96,max_size=1000,margin=0,padding_mode=border"
        expanded = f["boxes/expanded_box"][:].astype(np.float64)
    jobs = plan_boxes(records, config)
    for box in (0, 3, 5):                      # one independent recomputation per image
        image = records[jobs[box].record].load_image()
        outputs = SharedImageCNN(cnn, scale=96).box_outputs(
            image, expanded[box:box + 1], spec.network_layers(cnn.name))
        where = rows["location"][rows["box_index"] == box]
        expected = sample_hypercolumns(outputs, spec, cnn.name, torch.from_numpy(where)[None].long())
        np.testing.assert_allclose(rows["features"][rows["box_index"] == box].astype(np.float32),
                                   expected[0].numpy(), rtol=1e-2, atol=1e-2)
    # per-box shards are not shared-mode shards: the config check names the key
    with pytest.raises(ValueError, match="feature_source"):
        check_shard(list_shards(tmp_path / "shared")[0], make_config(cnn, spec))


def reference_locations(rng, rows_per_cell, sample_grid=10, size=50):
    """``stratified_locations`` as first written: one ``rng.choice`` per cell."""
    step, locations = size // sample_grid, []
    for cell_row in range(sample_grid):
        for cell_col in range(sample_grid):
            picks = rng.choice(step * step, rows_per_cell, replace=False)
            locations.append((cell_row * step + picks // step) * size + cell_col * step + picks % step)
    return np.concatenate(locations).astype(np.int64)


def test_stratified_locations_are_the_per_cell_choice_draws():
    for seed in range(1500):
        for rows_per_cell, grid, size in [(1, 10, 50), (1, 5, 50), (2, 10, 50), (1, 1, 50), (1, 25, 50)]:
            fast, slow = np.random.default_rng(seed), np.random.default_rng(seed)
            got = stratified_locations(fast, rows_per_cell, grid, size)
            want = reference_locations(slow, rows_per_cell, grid, size)
            assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
            assert fast.bit_generator.state == slow.bit_generator.state     # later draws agree too
    # a generator holding a buffered half word, and the rejection fallback, give the same draws
    from hypercolumns.extract.box_sampling import _one_per_cell
    fast, slow = np.random.default_rng(3), np.random.default_rng(3)
    fast.integers(5, dtype=np.uint32), slow.integers(5, dtype=np.uint32)
    assert stratified_locations(fast, 1).tobytes() == reference_locations(slow, 1).tobytes()
    fast, slow = np.random.default_rng(4), np.random.default_rng(4)
    assert _one_per_cell(fast, 10, 5, 50, force_fallback=True) is None
    assert fast.bit_generator.state == slow.bit_generator.state


def test_warping_a_float32_copy_and_batched_preprocessing_equal_the_per_box_path(tiny_cnn):
    from hypercolumns.extract.crop import crop_and_warp, float_image, preprocess, warp_boxes

    cnn, _ = tiny_cnn
    image = np.random.default_rng(1).integers(0, 256, (70, 95, 3), dtype=np.uint8)
    boxes = np.array([[-20.3, -5.1, 60.7, 80.2], [10.0, 3.5, 40.25, 33.0], [50.5, 20.1, 130.9, 99.9]])
    per_box = [cv2.warpAffine(image.astype(np.float32), np.array(
        [[(b[2] - b[0]) / 224, 0, b[0] + 0.5 * (b[2] - b[0]) / 224 - 0.5],
         [0, (b[3] - b[1]) / 224, b[1] + 0.5 * (b[3] - b[1]) / 224 - 0.5]]), (224, 224),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(cnn.fill_rgb)) for b in boxes]
    batch = warp_boxes(float_image(image), boxes, 224, cnn.fill_rgb)
    for index, box in enumerate(boxes):
        assert batch[index].tobytes() == per_box[index].tobytes()
        assert crop_and_warp(image, box, 224, cnn.fill_rgb).tobytes() == per_box[index].tobytes()
    for spec in (cnn.weights.input, {"channel_order": "RGB", "scale": 1 / 255,
                                     "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}):
        crops = np.stack(per_box)
        flipped = crops[..., ::-1] if spec["channel_order"] == "BGR" else crops
        want = ((flipped * np.float32(spec["scale"]) - np.asarray(spec["mean"], np.float32))
                / np.asarray(spec["std"], np.float32)).transpose(0, 3, 1, 2)
        got = preprocess(crops, spec).numpy()
        assert got.shape == want.shape and got.tobytes() == np.ascontiguousarray(want).tobytes()
    assert cnn.crops(image, boxes).numpy().tobytes() == cnn.crops(float_image(image), boxes).numpy().tobytes()


def test_shards_equal_the_per_box_reference_with_several_preparation_threads(tmp_path, tiny_cnn,
                                                                             monkeypatch):
    from hypercolumns.extract.crop import crop_and_warp, preprocess
    from hypercolumns.extract.features import sample_batch, taken

    monkeypatch.setenv("HYPERCOLUMNS_PREPARE_THREADS", "3")
    cnn, spec = tiny_cnn
    records = synthetic_records(tmp_path)
    config = make_config(cnn, spec)
    run_features(records, tmp_path / "shards", cnn, spec, config, boxes_per_shard=4, batch_size=3,
                 show_progress=False)
    jobs = plan_boxes(records, config)
    layers = spec.network_layers(cnn.name)
    for shard_index, path in enumerate(list_shards(tmp_path / "shards")):
        chunk = jobs[4 * shard_index:4 * shard_index + 4]
        features, locations, labels, expanded = [], [], [], []
        for start in range(0, len(chunk), 3):            # the same batches, each box on its own
            crops = []
            for job in chunk[start:start + 3]:
                record = records[job.record]
                box = cnn.expand(job.box[None])[0]
                crops.append(preprocess(crop_and_warp(record.load_image().astype(np.float32), box,
                                                      cnn.crop_size, cnn.fill_rgb)[None],
                                        cnn.weights.input))
                rng = image_rng(config.seed, f"{record.image_id}:{job.box.tobytes().hex()}")
                where = reference_locations(rng, config.rows_per_cell, config.sample_grid)
                target = figure_ground_target(record.instances[job.instance].mask, box, record.void)
                locations.append(where)
                labels.append(target.reshape(-1)[where])
                expanded.append(box)
            outputs = cnn.forward(torch.cat(crops), layers)
            features += taken(sample_batch(outputs, spec, cnn.name, locations[start:], cnn.device))
        with h5py.File(path) as f:
            assert f["features"][:].tobytes() == np.concatenate(features).tobytes()
            assert f["location"][:].tobytes() == np.concatenate(locations).astype(f["location"].dtype).tobytes()
            assert (f["box_index"][:] == np.repeat(np.arange(len(chunk)), [len(w) for w in locations])).all()
            assert (f["labels/figure_ground"][:] == np.concatenate(labels)).all()
            assert (f["boxes/expanded_box"][:] == np.stack(expanded).astype(f["boxes/expanded_box"].dtype)).all()
            assert (f["boxes/box"][:] == np.stack([j.box for j in chunk]).astype(f["boxes/box"].dtype)).all()


def test_flipped_boxes_are_their_boxes_in_the_mirrored_image(tmp_path, tiny_cnn):
    """A mirrored job's rows are what an unflipped box gives on the image mirrored left to right:
    the mirrored box's crop through the CNN at the same location, and the mirrored mask's label there."""
    from hypercolumns.extract.hypercolumn import dense_hypercolumns
    from hypercolumns.extract.targets import figure_ground_target as fg

    cnn, spec = tiny_cnn
    records = synthetic_records(tmp_path, count=2)
    plain, config = make_config(cnn, spec), make_config(cnn, spec, flips=True)
    assert config.compute_hash() != plain.compute_hash() and "flips" not in plain.recorded()
    jobs = plan_boxes(records, config)
    assert [job.flipped for job in jobs] == [False, False, True, True] * 2
    assert all((a.box == b.box).all() for a, b in zip(jobs[::4], jobs[2::4]))
    summary = run_features(records, tmp_path / "shards", cnn, spec, config, boxes_per_shard=4, batch_size=3,
                           show_progress=False)
    assert summary["rows"] == 2 * run(records, tmp_path / "plain", cnn, spec, plain)["rows"]
    shard = list_shards(tmp_path / "shards")[0]
    assert shards_config([shard]).flips
    with h5py.File(shard) as f:
        assert f["boxes/flipped"][:].tolist() == [0, 0, 1, 1]
        features, location = f["features"][:].astype(np.float32), f["location"][:]
        box_index, labels = f["box_index"][:], f["labels/figure_ground"][:]
    record = records[0]
    image, mask, width = record.load_image(), record.instances[0].mask, record.width
    box = jobs[2].box
    mirrored_box = np.array([width - box[2], box[1], width - box[0], box[3]])
    expanded = cnn.expand(mirrored_box[None])
    outputs = cnn.forward(cnn.crops(np.ascontiguousarray(image[:, ::-1]), expanded), spec.network_layers("vgg16"))
    dense = dense_hypercolumns(outputs, spec, "vgg16")[0].flatten(1).T.numpy()
    rows = box_index == 2
    scale = np.abs(dense).max()
    assert np.abs(features[rows] - dense[location[rows]]).max() < 0.05 * scale
    target = fg(np.ascontiguousarray(mask[:, ::-1]), expanded[0]).reshape(-1)
    assert (labels[rows] == target[location[rows]]).mean() > 0.95
    from hypercolumns.extract.box_descriptor import read_box_descriptors
    described = read_box_descriptors(list_shards(tmp_path / "shards"))   # a mirrored crop describes no box
    np.testing.assert_allclose(described["box"], np.stack([job.box for job in jobs if not job.flipped]), rtol=1e-6)


def test_flips_are_refused_where_no_crop_is_mirrored(tmp_path):
    from hypercolumns.extract.features import check_feature_options

    options = dict(boxes_per_instance=4, min_iou=0.7, rows_per_cell=1, boxes_per_shard=128, batch_size=16,
                   limit_images=None, shared_margin=16, scheduler=None)
    check_feature_options(**options, shared_features=None, flips=True)
    with pytest.raises(InputError, match="--flips.*--shared-features"):
        check_feature_options(**options, shared_features=224, flips=True)


def test_shards_are_written_while_the_next_shard_goes_through_the_cnn(tmp_path, tiny_cnn, monkeypatch):
    """Each write and each shard's extraction is slowed by 0.3 s and its interval recorded: shard n's
    write runs during shard n + 1's extraction; the shards equal a run without the writer thread's
    delays."""
    import threading
    import time

    from hypercolumns.extract import features

    cnn, spec = tiny_cnn
    records = synthetic_records(tmp_path)
    config = make_config(cnn, spec)
    run(records, tmp_path / "reference", cnn, spec, config)
    write, extract, spans = features.write_shard, features.extract_shard, {}

    def timed(kind, function):
        def wrapper(*args):
            start = time.perf_counter()
            time.sleep(0.3)
            result = function(*args)
            spans.setdefault(kind, []).append((start, time.perf_counter(), threading.get_ident()))
            return result
        return wrapper

    monkeypatch.setattr(features, "write_shard", timed("write", write))
    monkeypatch.setattr(features, "extract_shard", timed("extract", extract))
    run(records, tmp_path / "shards", cnn, spec, config)
    assert len(spans["write"]) == len(spans["extract"]) == 3
    for (w_start, w_end, writer), (e_start, e_end, main) in zip(spans["write"], spans["extract"][1:]):
        assert writer != main and w_start < e_end and e_start < w_end      # the two intervals overlap
    for a, b in zip(list_shards(tmp_path / "shards"), list_shards(tmp_path / "reference")):
        np.testing.assert_array_equal(read_rows(a)["features"], read_rows(b)["features"])


def test_a_failed_write_stops_the_run_and_leaves_only_whole_shards(tmp_path, tiny_cnn, monkeypatch):
    from hypercolumns.extract import features

    cnn, spec = tiny_cnn
    records = synthetic_records(tmp_path)
    config = make_config(cnn, spec)
    write, calls = features.write_shard, []

    def failing(path, *args):
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError("disk full")
        return write(path, *args)

    monkeypatch.setattr(features, "write_shard", failing)
    with pytest.raises(OSError, match="disk full"):
        run(records, tmp_path / "shards", cnn, spec, config)
    written = [p.name for p in list_shards(tmp_path / "shards")]
    assert "shard-00001.h5" not in written and "shard-00000.h5" in written      # a later one may be whole too
    for shard in list_shards(tmp_path / "shards"):
        check_shard(shard, config)
    monkeypatch.setattr(features, "write_shard", write)
    assert run(records, tmp_path / "shards", cnn, spec, config)["shards_written"] == 3 - len(written)
    run(records, tmp_path / "reference", cnn, spec, config)
    for a, b in zip(list_shards(tmp_path / "shards"), list_shards(tmp_path / "reference")):
        np.testing.assert_array_equal(read_rows(a)["features"], read_rows(b)["features"])


def test_a_small_box_context_is_recorded_and_its_boxes_are_cropped_with_it(tmp_path, tiny_cnn, random_vgg16):
    """Shards of a CNN with a small-box context record it (another hash; none: the hash of before),
    and each box's expanded box is the rule's, computed by hand from the box's side."""
    from hypercolumns.extract.box_expansion import SmallBoxContext

    plain_cnn, spec = tiny_cnn
    records = synthetic_records(tmp_path, count=2)
    plain = make_config(plain_cnn, spec)
    planned = np.stack([job.box for job in plan_boxes(records, plain)])   # the sample needs no CNN
    below = int(np.median(np.sqrt((planned[:, 2] - planned[:, 0]) * (planned[:, 3] - planned[:, 1]))))
    rule = SmallBoxContext(below=below, padding=48)   # about half the boxes under it
    cnn = FrozenCNN(random_vgg16(0), padding=16, device="cpu", small_box_context=rule)
    config = make_config(cnn, spec)
    assert "small_box_context" not in plain.recorded() and config.compute_hash() != plain.compute_hash()
    run(records, tmp_path / "shards", cnn, spec, config)
    shards = list_shards(tmp_path / "shards")
    assert shards_config(shards).small_box_context == rule
    boxes, expanded = [], []
    for shard in shards:
        with h5py.File(shard) as f:
            boxes.append(f["boxes/box"][:].astype(np.float64))
            expanded.append(f["boxes/expanded_box"][:])
    boxes, expanded = np.concatenate(boxes), np.concatenate(expanded)
    sides = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    assert (sides < below).any() and (sides >= below).any()
    factor = np.where(sides < below, 224 / 128, 224 / 192)[:, None]
    centres, half = (boxes[:, :2] + boxes[:, 2:]) / 2, (boxes[:, 2:] - boxes[:, :2]) / 2 * factor
    np.testing.assert_allclose(expanded, np.hstack([centres - half, centres + half]), rtol=1e-5)
    with pytest.raises(InputError, match="small_box_context"):
        check_shard(shards[0], plain)
