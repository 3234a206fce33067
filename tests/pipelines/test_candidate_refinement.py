"""System 1 end to end: stage one with candidate blocks, stage two, then refining given candidates.

The training images are noise and their instances random ellipses painted
nowhere, so the network's maps know nothing of the figure.  Stage one's
stand-in candidates are made perfect here (the instance mask itself), so
that the label IS the in/out bit: the grid can only find the figure through
the candidate blocks, and must learn to.
"""
import json

import cv2
import numpy as np
import pytest

from hypercolumns.classifiers.train import TrainOptions, train_grids
from hypercolumns.data.masks import decode_rle, encode_rle
from hypercolumns.data.records import ImageRecord, Instance
from hypercolumns.extract import features
from hypercolumns.extract.features import feature_config, run_features
from hypercolumns.extract.layer_spec import LayerSpec
from hypercolumns.extract.shards import list_shards, read_rows
from hypercolumns.extract.weights import save_weights
from hypercolumns.pipelines.commands.cli import main as cli
from hypercolumns.pipelines.inference.segment import Segmenter
from hypercolumns.pipelines.inference.superpixels import SuperpixelSettings

HEIGHT, WIDTH = 96, 128


def ellipse(centre, axes):
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
    return mask.astype(bool)


def rectangle(x0, y0, x1, y1):
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def random_shape(rng, index):
    """An ellipse (even index) or a rectangle (odd), somewhere in the image."""
    cx, cy = int(rng.integers(45, 85)), int(rng.integers(35, 60))
    ax, ay = int(rng.integers(18, 35)), int(rng.integers(18, 30))
    return ellipse((cx, cy), (ax, ay)) if index % 2 == 0 else rectangle(cx - ax, cy - ay, cx + ax, cy + ay)


def tight_box(mask):
    rows, cols = np.nonzero(mask)
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], float)


def noise_image(rng):
    return rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_cnn, random_vgg16):
    folder = tmp_path_factory.mktemp("system1")
    cnn, _ = tiny_cnn
    weights_path = save_weights(random_vgg16(0), "random-vgg16", folder)
    rng = np.random.default_rng(0)
    records = []
    for index in range(4):
        path = folder / f"train{index}.png"
        cv2.imwrite(str(path), noise_image(rng))
        mask = random_shape(rng, index)
        records.append(ImageRecord(f"train{index}", path, HEIGHT, WIDTH, [Instance(mask, "thing")]))
    spec = LayerSpec.parse("conv4_3,inout,candidate").resolve(cnn.network)
    config = feature_config(cnn, spec, boxes_per_instance=3, rows_per_cell=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(features, "degraded_candidate", lambda mask, rng: mask.copy())
        run_features(records, folder / "features", cnn, spec, config, boxes_per_shard=8,
                     batch_size=8, show_progress=False)
    rows = read_rows(list_shards(folder / "features")[0])
    inout_column = spec.blocks[1].offset
    np.testing.assert_array_equal(rows["features"][:, inout_column], rows["labels"])
    options = TrainOptions(Ks=(1,), C_grid=(1e-2,), n_jobs=1, show_progress=False)
    train_grids(folder / "features", folder / "models", options, log=lambda line: None)
    segmenter = Segmenter(folder / "models" / "grid-K1.h5", weights_path,
                          SuperpixelSettings("none"), device="cpu")
    return folder, weights_path, segmenter


def test_the_refined_mask_follows_the_candidate(trained):
    _, _, segmenter = trained
    assert segmenter.needs_candidates
    image = noise_image(np.random.default_rng(1))
    candidates = [ellipse((45, 50), (20, 28)), rectangle(70, 30, 105, 75),
                  ellipse((64, 48), (40, 12))]
    # as System 1 is used: each candidate in its own box (the shapes of training)
    boxes = np.stack([tight_box(c) for c in candidates])
    masks = segmenter.segment(image, boxes, candidates=candidates).full_masks()
    overlaps = [iou(mask, c) for mask, c in zip(masks, candidates)]
    print("IoU of the refined masks with their candidates:", np.round(overlaps, 3))
    assert min(overlaps) > 0.8
    # the boxes overlap: each mask is nearest its own candidate, not its neighbours'
    nearest = [int(np.argmax([iou(mask, c) for c in candidates])) for mask in masks]
    assert nearest == [0, 1, 2]


def write_image_and_annotations(folder):
    image = noise_image(np.random.default_rng(2))
    cv2.imwrite(str(folder / "val.png"), image[..., ::-1])
    annotations = {"images": [{"id": 5, "file_name": "val.png", "width": WIDTH, "height": HEIGHT}],
                   "categories": [{"id": 1, "name": "thing"}], "annotations": []}
    (folder / "val.json").write_text(json.dumps(annotations))
    return image


def test_segment_cli_refines_each_detection_segmentation(trained):
    folder, weights_path, segmenter = trained
    image = write_image_and_annotations(folder)
    blob = ellipse((50, 45), (22, 25))
    square = [[70.0, 20.0, 110.0, 20.0, 110.0, 70.0, 70.0, 70.0]]  # polygon of [70, 110) x [20, 70)
    detections = [
        {"image_id": 5, "category_id": 1, "bbox": [25, 15, 50, 62], "score": 0.9,
         "segmentation": encode_rle(blob)},
        {"image_id": 5, "category_id": 1, "bbox": [62, 12, 56, 66], "score": 0.7,
         "segmentation": square}]
    (folder / "dets.json").write_text(json.dumps(detections))
    code = cli(["segment", "--annotations", str(folder / "val.json"), "--image-root", str(folder),
                "--detections", str(folder / "dets.json"), "--model",
                str(folder / "models" / "grid-K1.h5"), "--out", str(folder / "out.json"),
                "--weights", str(weights_path), "--no-superpixels"])
    assert code == 0
    results = json.loads((folder / "out.json").read_text())
    masks = np.stack([decode_rle(r["segmentation"]) for r in results])
    square_mask = np.zeros((HEIGHT, WIDTH), bool)
    square_mask[20:70, 70:110] = True
    boxes = np.array([[25, 15, 75, 77], [62, 12, 118, 78]], float)
    expected = segmenter.segment(image, boxes, "thing", candidates=[blob, square_mask]).full_masks()
    np.testing.assert_array_equal(masks, expected)
    assert iou(masks[0], blob) > 0.8 and iou(masks[1], square_mask) > 0.8
    assert [r["score"] for r in results] == [0.9, 0.7]


def test_missing_candidates_are_refused_naming_the_detections_file(trained, capsys):
    folder, weights_path, segmenter = trained
    image = write_image_and_annotations(folder)
    with pytest.raises(ValueError, match="needs candidate masks"):
        segmenter.segment(image, np.array([[10.0, 10.0, 60.0, 60.0]]))
    with pytest.raises(ValueError, match=r"expected 1 candidate masks of the image's size"):
        segmenter.segment(image, np.array([[10.0, 10.0, 60.0, 60.0]]),
                          candidates=np.zeros((1, 10, 10), bool))
    bare = folder / "bare.json"
    bare.write_text(json.dumps([{"image_id": 5, "category_id": 1, "bbox": [5, 5, 40, 40],
                                 "score": 0.5}]))
    code = cli(["segment", "--annotations", str(folder / "val.json"), "--image-root", str(folder),
                "--detections", str(bare), "--model", str(folder / "models" / "grid-K1.h5"),
                "--out", str(folder / "never.json"), "--weights", str(weights_path)])
    error = capsys.readouterr().err
    assert code == 2 and str(bare) in error and "needs candidate masks" in error
    assert not (folder / "never.json").exists()
