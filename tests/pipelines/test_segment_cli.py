"""`hypercolumns segment` end to end on a synthetic image, a random network and a random grid."""
import json

import cv2
import numpy as np
import pytest

from hypercolumns.classifiers.grid_model import AGNOSTIC, GridModel
from hypercolumns.classifiers.model_file import save_grid
from hypercolumns.data.masks import decode_rle
from hypercolumns.extract.cnn import FrozenCNN
from hypercolumns.extract.features import feature_config
from hypercolumns.extract.layer_spec import LayerSpec
from hypercolumns.extract.weights import save_weights
from hypercolumns.pipelines.commands.cli import main as cli
from hypercolumns.pipelines.inference.segment import Segmenter
from hypercolumns.pipelines.inference.superpixels import SuperpixelSettings


@pytest.fixture(scope="module")
def setup(tmp_path_factory, random_vgg16):
    folder = tmp_path_factory.mktemp("segment")
    weights = random_vgg16(0)
    weights_path = save_weights(weights, "random-vgg16", folder)
    cnn = FrozenCNN(weights, device="cpu")
    spec = LayerSpec.parse("conv4_3,global").resolve(cnn.network)
    rng = np.random.default_rng(0)
    K = 2
    model = GridModel(K=K, spec=spec, categories=[AGNOSTIC],
                      coef={AGNOSTIC: rng.normal(0, 0.05, (K, K, spec.dim)).astype(np.float32)},
                      intercept={AGNOSTIC: np.zeros((K, K), np.float32)},
                      mean=np.zeros(spec.dim, np.float32), scale=np.ones(spec.dim, np.float32),
                      feature_config=feature_config(cnn, spec))
    model_path = save_grid(model, folder / "grid-K2.h5")
    image = rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "a.png"), image[..., ::-1])
    annotations = {"images": [{"id": 7, "file_name": "a.png", "width": 100, "height": 80}],
                   "categories": [{"id": 3, "name": "cat"}], "annotations": []}
    (folder / "coco.json").write_text(json.dumps(annotations))
    detections = [{"image_id": 7, "category_id": 3, "bbox": [10, 5, 50, 60], "score": 0.9},
                  {"image_id": 7, "category_id": 3, "bbox": [40, 20, 55, 58], "score": 0.5}]
    (folder / "dets.json").write_text(json.dumps(detections))
    return folder, weights_path, model_path, image


def test_segment_writes_rle_masks_equal_to_the_python_api(setup):
    folder, weights_path, model_path, image = setup
    code = cli(["segment", "--annotations", str(folder / "coco.json"), "--image-root", str(folder),
                "--detections", str(folder / "dets.json"), "--model", str(model_path),
                "--out", str(folder / "results.json"), "--weights", str(weights_path),
                "--no-superpixels", "--viz", str(folder / "viz")])
    assert code == 0
    results = json.loads((folder / "results.json").read_text())
    assert [r["score"] for r in results] == [0.9, 0.5] and results[0]["image_id"] == 7
    masks = np.stack([decode_rle(r["segmentation"]) for r in results])
    assert masks.shape == (2, 80, 100)
    segmenter = Segmenter(model_path, weights_path, SuperpixelSettings("none"), device="cpu")
    expected = segmenter.segment(image, np.array([[10, 5, 60, 65], [40, 20, 95, 78]]), "cat")
    np.testing.assert_array_equal(masks, expected.full_masks())
    assert 0 < masks.sum() < masks.size            # a non-trivial mask
    # pixels far outside the expanded boxes are never in a mask
    assert not masks[0][:, 95:].any()
    assert cv2.imread(str(folder / "viz" / "a.png")).shape == (80, 100, 3)


def test_segment_errors_name_the_file(setup, capsys):
    folder, weights_path, model_path, _ = setup
    bad = folder / "bad.json"
    bad.write_text(json.dumps([{"image_id": 99, "category_id": 3, "bbox": [1, 1, 5, 5], "score": 1}]))
    args = ["segment", "--annotations", str(folder / "coco.json"), "--image-root", str(folder),
            "--model", str(model_path), "--out", str(folder / "r.json"), "--weights", str(weights_path)]
    assert cli(args + ["--detections", str(bad)]) == 2
    assert "image_id 99" in capsys.readouterr().err
    bad.write_text(json.dumps([{"image_id": 7, "category_id": 3, "bbox": [1, 1, 0, 5], "score": 1}]))
    assert cli(args + ["--detections", str(bad)]) == 2
    assert str(bad) in capsys.readouterr().err
    assert cli(args + ["--detections", str(folder / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_model_refuses_other_weights(setup, imagenet_weights):
    _, _, model_path, _ = setup
    with pytest.raises(ValueError, match="sha256"):
        Segmenter(model_path, None, device="cpu")


def test_set_image_then_predict_equals_segment_and_holds_windows(setup):
    _, weights_path, model_path, image = setup
    boxes = np.array([[10, 5, 60, 65], [40, 20, 95, 78], [0, 0, 20, 15]], dtype=np.float64)
    for settings in (SuperpixelSettings("none"), SuperpixelSettings("felzenszwalb")):
        segmenter = Segmenter(model_path, weights_path, settings, device="cpu")
        whole = segmenter.segment(image, boxes, "cat")
        segmenter.set_image(image)
        first, second = segmenter.predict(boxes[:2], "cat"), segmenter.predict(boxes[2:], "cat")
        np.testing.assert_array_equal(np.concatenate([first.full_masks(), second.full_masks()]),
                                      whole.full_masks())
        np.testing.assert_array_equal(np.concatenate([first.scores, second.scores]), whole.scores)
        # each mask lies in its window; the RLE decodes to the full mask
        for mask, rle in zip(whole.masks, whole.rles()):
            assert mask.image_shape == (80, 100)
            np.testing.assert_array_equal(decode_rle(rle), mask.full())
        # the score is the mean pasted probability inside the full-size mask (independent paste)
        pasted = whole.pasted()
        for index, full in enumerate(whole.full_masks()):
            expected = float(pasted[index][full].mean()) if full.any() else 0.0
            assert whole.scores[index] == expected


def test_predict_needs_an_image(setup):
    _, weights_path, model_path, _ = setup
    segmenter = Segmenter(model_path, weights_path, SuperpixelSettings("none"), device="cpu")
    with pytest.raises(RuntimeError, match="set_image"):
        segmenter.predict(np.array([[1.0, 1.0, 5.0, 5.0]]))
