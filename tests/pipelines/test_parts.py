"""Part labelling (Table 4): part rows inside the object, argmax labelling inside the mask."""
import cv2
import h5py
import numpy as np

from hypercolumns.data.records import ImageRecord, Instance
from hypercolumns.extract.features import feature_config
from hypercolumns.extract.shards import list_shards, read_rows
from hypercolumns.extract.part_rows import (PART_TARGETS, box_labels, part_rows_labels,
                                              run_part_features)
from hypercolumns.pipelines.experiments.parts import label_parts


def person(height=50, width=50):
    """A 50 x 50 image: the object is rows 10..39, cols 10..39; head rows 10..19, torso rows 20..29."""
    mask = np.zeros((height, width), bool)
    mask[10:40, 10:40] = True
    head, torso = np.zeros_like(mask), np.zeros_like(mask)
    head[10:20, 10:40] = True
    torso[20:30, 10:40] = True
    return Instance(mask, "person", parts={"head": head, "torso": torso})


def test_part_rows_are_one_on_the_part_zero_on_the_object_ignored_outside():
    inst = person()
    box = np.array([0.0, 0.0, 50.0, 50.0])  # one grid cell per pixel
    labels = part_rows_labels(inst.mask, {"head": inst.parts["head"]}, box)["head"]
    assert (labels[10:20, 10:40] == 1).all()
    assert (labels[20:40, 10:40] == 0).all()        # torso and unlabelled object pixels
    outside = np.ones((50, 50), bool)
    outside[10:40, 10:40] = False
    assert (labels[outside] == -1).all()


def test_box_labels_cover_every_target_and_ignore_other_classes_and_void():
    inst = person()
    void = np.zeros((50, 50), bool)
    void[12, 12] = True
    labels = box_labels(inst, np.array([0.0, 0.0, 50.0, 50.0]), void)
    assert list(labels) == list(PART_TARGETS)
    head, torso, legs = (labels[f"part:person:{g}"] for g in ("head", "torso", "legs"))
    assert head[15, 20] == 1 and torso[15, 20] == 0 and torso[25, 20] == 1 and head[25, 20] == 0
    assert head[12, 12] == -1                       # void
    inside = inst.mask & ~void
    assert (legs[inside] == 0).all() and (legs[~inside] == -1).all()   # no legs: negatives inside
    assert all((labels[t] == -1).all() for t in PART_TARGETS if not t.startswith("part:person:"))


def test_shards_carry_part_rows(tmp_path, tiny_cnn):
    cnn, spec = tiny_cnn
    inst = person(60, 60)
    image = np.random.default_rng(0).integers(0, 255, (60, 60, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    other = Instance(np.pad(np.ones((20, 20), bool), ((0, 40), (40, 0))), "chair")
    records = [ImageRecord("a", tmp_path / "a.png", 60, 60, [inst, other])]
    config = feature_config(cnn, spec, boxes_per_instance=2, targets=PART_TARGETS)
    summary = run_part_features(records, tmp_path / "shards", cnn, spec, config, batch_size=2)
    assert summary["boxes"] == 2                    # the chair gives no box
    assert summary["positives"]["part:person:head"] > 0 and summary["positives"]["part:person:legs"] == 0
    shard = list_shards(tmp_path / "shards")[0]
    with h5py.File(shard) as f:
        head = f["labels/part:person:head"][:]
        boxes = f["boxes/expanded_box"][:]
        location, box_index = f["location"][:], f["box_index"][:]
        assert (f["labels/part:dog:head"][:] == -1).all()
    assert set(np.unique(head)) == {-1, 0, 1}
    expected = np.stack([box_labels(inst, boxes[b])["part:person:head"].reshape(-1)[loc]
                         for loc, b in zip(location, box_index)])
    np.testing.assert_array_equal(head, expected)
    rows = read_rows(shard, "part:person:head")
    assert rows["features"].shape == ((head >= 0).sum(), spec.dim)


def test_argmax_labelling_inside_the_mask():
    scores = np.zeros((3, 4, 5), np.float32)
    scores[0, :2] = 0.9       # part 1 wins the top rows
    scores[1, 2:] = 0.8       # part 2 wins the bottom rows ...
    scores[2, 3, 4] = 0.95    # ... except one pixel where part 3 wins
    scores[:, 1, 0] = 0.5     # a tie: the first part
    mask = np.zeros((4, 5), bool)
    mask[1:, :] = True
    labels = label_parts(scores, mask)
    np.testing.assert_array_equal(labels, [[0, 0, 0, 0, 0],
                                           [1, 1, 1, 1, 1],
                                           [2, 2, 2, 2, 2],
                                           [2, 2, 2, 2, 3]])
    # part 1 without a classifier never wins, even with the highest score
    no_first = label_parts(scores, mask, available=[False, True, True])
    assert no_first[1, 1] == 2 and no_first[3, 4] == 3 and no_first[0, 0] == 0
    assert (label_parts(scores, mask, available=[False] * 3) == 0).all()
