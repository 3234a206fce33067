"""`hypercolumns segment` end to end on a synthetic image, a random network and a random grid."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hypercolumns.classifiers.grid_model import AGNOSTIC, GridModel
from hypercolumns.classifiers.model_file import save_grid
from hypercolumns.data.masks import decode_rle
from hypercolumns.extract.cnn import FrozenCNN
from hypercolumns.extract.features import feature_config
from hypercolumns.extract.layer_spec import LayerSpec
from hypercolumns.pipelines.commands.cli import main as cli
from hypercolumns.pipelines.inference.segment import Segmenter
from hypercolumns.pipelines.inference.superpixels import SuperpixelSettings
from refusal import assert_refused


@pytest.fixture(scope="module")
def setup(tmp_path_factory, random_grid_file):
    folder = tmp_path_factory.mktemp("segment")
    weights_path, model_path = random_grid_file(folder)
    rng = np.random.default_rng(0)
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


def segment_args(folder, weights_path, model_path, detections, out, image_root=None) -> list:
    return [str(arg) for arg in ("segment", "--annotations", folder / "coco.json", "--image-root",
                                 image_root or folder, "--model", model_path, "--out", out, "--weights",
                                 weights_path, "--detections", detections, "--no-superpixels")]


# (what the detections file holds, what the error line must name besides the file)
BAD_DETECTIONS = {
    "unknown image id": ('[{"image_id": 99, "category_id": 3, "bbox": [1, 1, 5, 5], "score": 1}]',
                         ["detection 0", "image_id 99", "coco.json"]),
    "unknown category": ('[{"image_id": 7, "category_id": 4, "bbox": [1, 1, 5, 5], "score": 1}]',
                         ["detection 0", "category_id 4"]),
    "zero width": ('[{"image_id": 7, "category_id": 3, "bbox": [1, 1, 0, 5], "score": 1}]', ["detection 0"]),
    "infinite width": ('[{"image_id": 7, "category_id": 3, "bbox": [1, 1, 5, 5], "score": 1},'
                       ' {"image_id": 7, "category_id": 3, "bbox": [1, 1, Infinity, 5], "score": 1}]',
                       ["detection 1"]),
    "NaN score": ('[{"image_id": 7, "category_id": 3, "bbox": [1, 1, 5, 5], "score": NaN}]', ["detection 0"]),
    "bbox of strings": ('[{"image_id": 7, "category_id": 3, "bbox": ["a", "b", "c", "d"], "score": 1}]',
                        ["detection 0"]),
    "entry not an object": ('[[1, 2]]', ["detection 0"]),
    "not a list": ('{"image_id": 7}', []),
    "truncated JSON": ('[{"image_id": 7, "category_id"', []),
    "empty file": ("", []),
}


@pytest.mark.parametrize("case", list(BAD_DETECTIONS))
def test_bad_detections_are_refused_naming_file_and_entry(setup, tmp_path, capsys, case):
    folder, weights_path, model_path, _ = setup
    text, names = BAD_DETECTIONS[case]
    detections, out = tmp_path / "dets.json", tmp_path / "results.json"
    detections.write_text(text)
    assert_refused(capsys, segment_args(folder, weights_path, model_path, detections, out),
                   [detections, *names], [out])


def test_missing_files_are_refused(setup, tmp_path, capsys):
    folder, weights_path, model_path, _ = setup
    out = tmp_path / "results.json"
    dets = folder / "dets.json"
    assert_refused(capsys, segment_args(folder, weights_path, model_path, tmp_path / "missing.json", out),
                   ["missing.json"], [out])
    assert_refused(capsys, segment_args(folder, weights_path, tmp_path / "no-model.h5", dets, out),
                   ["no-model.h5"], [out])
    assert_refused(capsys, segment_args(folder, weights_path, model_path, dets, out, image_root=tmp_path),
                   [tmp_path / "a.png"], [out])


def test_garbage_model_and_truncated_image_are_refused(setup, tmp_path, capsys):
    folder, weights_path, model_path, _ = setup
    out = tmp_path / "results.json"
    garbage = tmp_path / "grid.h5"
    garbage.write_bytes(b"not an HDF5 file")
    assert_refused(capsys, segment_args(folder, weights_path, garbage, folder / "dets.json", out),
                   [garbage], [out])
    # a JPEG cut short: OpenCV alone would fill the missing rows with grey and go on
    ok, encoded = cv2.imencode(".jpg", cv2.imread(str(folder / "a.png")))
    (tmp_path / "a.jpg").write_bytes(encoded.tobytes()[: len(encoded) // 2])
    annotations = json.loads((folder / "coco.json").read_text())
    annotations["images"][0]["file_name"] = "a.jpg"
    (tmp_path / "coco.json").write_text(json.dumps(annotations))
    args = segment_args(tmp_path, weights_path, model_path, folder / "dets.json", out)
    assert_refused(capsys, args, [tmp_path / "a.jpg"], [out])


def test_box_outside_its_image_gets_an_empty_mask_and_a_warning(setup, tmp_path, capsys):
    folder, weights_path, model_path, image = setup
    detections = [{"image_id": 7, "category_id": 3, "bbox": [10, 5, 50, 60], "score": 0.9},
                  {"image_id": 7, "category_id": 3, "bbox": [100, 10, 20, 20], "score": 0.8},  # right of 100 px
                  {"image_id": 7, "category_id": 3, "bbox": [-30, -30, 20, 30], "score": 0.7}]  # above-left
    dets, out = tmp_path / "dets.json", tmp_path / "results.json"
    dets.write_text(json.dumps(detections))
    assert cli([str(a) for a in segment_args(folder, weights_path, model_path, dets, out)]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "warning" in line]
    assert len(warnings) == 2 and all(line.startswith("hypercolumns segment: warning: ") for line in warnings)
    assert f"{dets}: detection 1" in warnings[0] and f"{dets}: detection 2" in warnings[1]
    assert "(2 wholly outside their images: empty masks)" in captured.out
    results = json.loads(out.read_text())
    assert [r["score"] for r in results] == [0.9, 0.8, 0.7]   # aligned with the input
    masks = [decode_rle(r["segmentation"]) for r in results]
    assert all(m.shape == (80, 100) for m in masks) and not masks[1].any() and not masks[2].any()
    segmenter = Segmenter(model_path, weights_path, SuperpixelSettings("none"), device="cpu")
    np.testing.assert_array_equal(masks[0], segmenter.segment(image, np.array([[10, 5, 60, 65]]), "cat")
                                  .full_masks()[0])


def test_a_bug_keeps_its_traceback(setup, tmp_path, monkeypatch):
    """A ValueError of ours (here numpy's broadcasting error) is not shown as bad input."""
    folder, weights_path, model_path, _ = setup

    def broken(self, image, image_key, heatmaps, expanded_boxes):   # on segment_many's CPU thread
        return np.ones(3) + np.ones(4)

    monkeypatch.setattr(Segmenter, "masks_of", broken)
    with pytest.raises(ValueError, match="broadcast"):
        cli([str(a) for a in segment_args(folder, weights_path, model_path, folder / "dets.json",
                                          tmp_path / "results.json")])
    assert not (tmp_path / "results.json").exists()


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


def test_profile_counts_each_stage_where_its_time_is_spent_and_changes_no_mask(setup, tmp_path, capsys,
                                                                               monkeypatch):
    """Reading the image and the CNN are slowed by known amounts: the profile puts each delay in its own
    stage, its stages fit in the run's wall time, and the results equal an unprofiled run's."""
    import re
    import time

    from hypercolumns.extract.cnn import FrozenCNN as CNN
    from hypercolumns.pipelines.inference import engine

    folder, weights_path, model_path, _ = setup
    args = segment_args(folder, weights_path, model_path, folder / "dets.json", tmp_path / "plain.json")
    assert cli([str(a) for a in args]) == 0
    read, forward = engine.read_image, CNN.forward
    monkeypatch.setattr(engine, "read_image", lambda path: time.sleep(0.3) or read(path))
    monkeypatch.setattr(CNN, "forward", lambda self, *a, **k: time.sleep(0.5) or forward(self, *a, **k))
    capsys.readouterr()
    args = segment_args(folder, weights_path, model_path, folder / "dets.json", tmp_path / "profiled.json")
    assert cli([str(a) for a in args] + ["--profile"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("profile"))
    seconds = {stage.strip(): float(value) for stage, value in re.findall(r"([a-z ]+?) ([\d.]+) s", line.split(": ", 1)[1])}
    wall = float(re.search(r"boxes, ([\d.]+) s in all", line).group(1))
    assert "(2 boxes" in line
    assert 0.3 <= seconds["read"] < 0.5 and seconds["cnn"] >= 0.5      # one image, one batch of boxes
    assert seconds["conv trick"] < 0.3 and seconds["projection"] < 0.2 and seconds["rle"] < 0.1
    assert sum(seconds.values()) <= wall + 0.01 * len(seconds)      # each printed to 0.01 s
    assert json.loads((tmp_path / "profiled.json").read_text()) == json.loads((tmp_path / "plain.json").read_text())


def test_a_grid_trained_with_small_box_context_segments_with_it(setup, tmp_path, random_vgg16):
    """A grid whose shards gave boxes under 30 px 48 px of context is applied so: its small box's
    heatmap is the one a CNN padding every box by 48 gives, its large box's the one of padding 16."""
    from dataclasses import replace

    from hypercolumns.classifiers.model_file import load_grid
    from hypercolumns.extract.box_expansion import SmallBoxContext

    _, weights_path, model_path, image = setup
    grid = load_grid(model_path)
    rule = SmallBoxContext(below=30, padding=48)
    paths = {}
    for name, config in (("rule", replace(grid.feature_config, small_box_context=rule, config_hash=None)),
                         ("pad48", replace(grid.feature_config, padding=48, config_hash=None))):
        paths[name] = save_grid(replace(grid, feature_config=config), tmp_path / f"{name}.h5")
    boxes = np.array([[10, 5, 30, 25], [20, 10, 90, 70]], dtype=np.float64)   # sides 20 and 64.8
    ruled, expanded = Segmenter(paths["rule"], weights_path, device="cpu").heatmaps(image, boxes, ["cat"] * 2)
    np.testing.assert_allclose(expanded[0], [20 - 17.5, 15 - 17.5, 20 + 17.5, 15 + 17.5])
    wide, _ = Segmenter(paths["pad48"], weights_path, device="cpu").heatmaps(image, boxes[:1], ["cat"])
    plain, _ = Segmenter(model_path, weights_path, device="cpu").heatmaps(image, boxes[1:], ["cat"])
    np.testing.assert_allclose(ruled[0], wide[0], atol=1e-5)
    np.testing.assert_allclose(ruled[1], plain[0], atol=1e-5)
    assert np.abs(ruled[0] - Segmenter(model_path, weights_path, device="cpu").heatmaps(
        image, boxes[:1], ["cat"])[0][0]).max() > 1e-3    # the context changes the heatmap

    # one engine for all three grids: one copy of the weights, each grid's own crops
    from hypercolumns.pipelines.inference.engine import Engine

    engine = Engine(weights_path, device="cpu")
    grids = [engine.grid(paths["rule"]), engine.grid(paths["pad48"]), engine.grid(model_path)]
    assert len({id(grid.cnn.network) for grid in grids}) == 1 and len({id(grid.cnn) for grid in grids}) == 3
    together = engine.heatmaps(image, boxes, ["cat"] * 2, grids)
    np.testing.assert_allclose(together[0], ruled, atol=1e-5)
    np.testing.assert_allclose(together[1][0], wide[0], atol=1e-5)
    np.testing.assert_allclose(together[2][1], plain[0], atol=1e-5)


def test_the_readme_command_typed_by_hand_after_setup_finds_the_converted_weights(setup, tmp_path,
                                                                                 imagenet_weights):
    """README *Command line*, run as a new user would after `make setup`: no --weights, no
    $HYPERCOLUMNS_CACHE (the Make targets set it), a home without a cache of its own."""
    import os
    import subprocess
    import sys

    from hypercolumns.extract.weights import CHECKOUT_CACHE, DEFAULT_WEIGHTS_NAME, weights_paths

    if not weights_paths(DEFAULT_WEIGHTS_NAME, CHECKOUT_CACHE)[0].is_file():
        pytest.skip("the weights were converted outside this checkout's work/cache ($HYPERCOLUMNS_CACHE)")
    folder = setup[0]
    cnn = FrozenCNN(imagenet_weights, device="cpu")
    spec = LayerSpec.parse("conv4_3,global").resolve(cnn.network)
    model = GridModel(K=1, spec=spec, categories=[AGNOSTIC], coef={AGNOSTIC: np.zeros((1, 1, spec.dim), np.float32)},
                      intercept={AGNOSTIC: np.zeros((1, 1), np.float32)}, mean=np.zeros(spec.dim, np.float32),
                      scale=np.ones(spec.dim, np.float32), feature_config=feature_config(cnn, spec))
    model_path = save_grid(model, tmp_path / "grid-K1.h5")
    env = {key: value for key, value in os.environ.items() if key != "HYPERCOLUMNS_CACHE"}
    env["HOME"] = str(tmp_path / "home")
    command = [str(Path(sys.executable).with_name("hypercolumns")), "segment", "--annotations",
               str(folder / "coco.json"), "--image-root", str(folder), "--detections", str(folder / "dets.json"),
               "--model", str(model_path), "--out", str(tmp_path / "results.json"), "--no-superpixels"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(json.loads((tmp_path / "results.json").read_text())) == 2


def test_without_the_variable_the_cache_is_the_users_unless_only_the_checkout_holds_weights(tmp_path, monkeypatch):
    from hypercolumns.extract import weights

    monkeypatch.delenv("HYPERCOLUMNS_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(weights, "CHECKOUT_CACHE", tmp_path / "checkout" / "work" / "cache")
    user = tmp_path / "home" / ".cache" / "hypercolumns"
    assert weights.cache_dir() == user                                  # neither holds weights
    (weights.CHECKOUT_CACHE / "weights").mkdir(parents=True)
    assert weights.cache_dir() == weights.CHECKOUT_CACHE               # only where `make setup` put them
    (user / "weights").mkdir(parents=True)
    assert weights.cache_dir() == user                                  # the user's own cache first
    monkeypatch.setenv("HYPERCOLUMNS_CACHE", str(tmp_path / "set"))
    assert weights.cache_dir() == tmp_path / "set"


def test_xyxy_boxes_give_the_masks_of_the_same_boxes_in_xywh_and_are_written_as_given(setup, tmp_path):
    folder, weights_path, model_path, _ = setup
    corners = [{"image_id": 7, "category_id": 3, "bbox": [10, 5, 60, 65], "score": 0.9},
               {"image_id": 7, "category_id": 3, "bbox": [40, 20, 95, 78], "score": 0.5}]
    (tmp_path / "xyxy.json").write_text(json.dumps(corners))
    assert cli(segment_args(folder, weights_path, model_path, tmp_path / "xyxy.json", tmp_path / "a.json")
               + ["--box-format", "xyxy"]) == 0
    assert cli(segment_args(folder, weights_path, model_path, folder / "dets.json", tmp_path / "b.json")) == 0
    from_corners, from_coco = (json.loads((tmp_path / name).read_text()) for name in ("a.json", "b.json"))
    assert [r["bbox"] for r in from_corners] == [d["bbox"] for d in corners]
    assert [r["segmentation"] for r in from_corners] == [r["segmentation"] for r in from_coco]
    assert all("bbox_as_given" not in r for r in from_corners)


def test_a_file_in_the_other_box_format_is_refused_naming_it(setup, tmp_path, capsys):
    folder, weights_path, model_path, _ = setup
    out = tmp_path / "results.json"
    corners = tmp_path / "corners.json"     # [x0, y0, x1, y1] inside the 100x80 image; as [x, y, w, h] both reach past
    corners.write_text(json.dumps([{"image_id": 7, "category_id": 3, "bbox": [30, 20, 90, 75], "score": 0.9},
                                   {"image_id": 7, "category_id": 3, "bbox": [40, 20, 95, 78], "score": 0.5}]))
    assert_refused(capsys, segment_args(folder, weights_path, model_path, corners, out),
                   [corners, "2 of 2 boxes", "--box-format xyxy"], [out])
    assert cli(segment_args(folder, weights_path, model_path, corners, out) + ["--box-format", "xywh"]) == 0
    out.unlink()                            # said so: boxes past their images are clipped, not refused
    flipped = tmp_path / "flipped.json"     # as corners, x1 < x0: not a box
    flipped.write_text(json.dumps([{"image_id": 7, "category_id": 3, "bbox": [60, 5, 30, 40], "score": 0.9}]))
    assert_refused(capsys, segment_args(folder, weights_path, model_path, flipped, out) + ["--box-format", "xyxy"],
                   [flipped, "detection 0", "--box-format xywh"], [out])


def test_confidence_threshold_and_max_per_image_keep_the_best_in_input_order(setup, tmp_path):
    from hypercolumns.data.detections import select_detections

    folder, weights_path, model_path, _ = setup
    entries = [{"image_id": 7, "category_id": 3, "bbox": [10, 5, 50, 60], "score": s} for s in (0.5, 0.9, 0.7)]
    (tmp_path / "dets.json").write_text(json.dumps(entries))
    assert cli(segment_args(folder, weights_path, model_path, tmp_path / "dets.json", tmp_path / "r.json")
               + ["--confidence-threshold", "0.6", "--max-per-image", "5"]) == 0
    assert [r["score"] for r in json.loads((tmp_path / "r.json").read_text())] == [0.9, 0.7]
    assert cli(segment_args(folder, weights_path, model_path, tmp_path / "dets.json", tmp_path / "r.json")
               + ["--max-per-image", "2"]) == 0
    assert [r["score"] for r in json.loads((tmp_path / "r.json").read_text())] == [0.9, 0.7]
    two_images = entries + [{"image_id": 8, "category_id": 3, "bbox": [1, 1, 5, 5], "score": 0.1}]
    assert select_detections(two_images, max_per_image=1) == [1, 3]
    assert select_detections(two_images, min_score=0.7) == [1, 2]
    assert select_detections([dict(e, score=0.5) for e in entries], max_per_image=2) == [0, 1]   # ties: earlier


def test_a_folder_of_images_with_detections_naming_their_files_needs_no_ground_truth(setup, tmp_path, capsys):
    folder, weights_path, model_path, _ = setup
    given = json.loads((folder / "dets.json").read_text())
    by_name = [{"file_name": "a.png", **{k: v for k, v in d.items() if k != "image_id"}} for d in given]
    (tmp_path / "by-name.json").write_text(json.dumps(by_name))
    listed = {"images": [{"id": "x", "file_name": "a.png"}], "categories": [{"id": 3, "name": "cat"}],
              "detections": [dict(d, image_id="x") for d in given]}
    (tmp_path / "listed.json").write_text(json.dumps(listed))
    common = ["segment", "--images", str(folder), "--model", str(model_path), "--weights", str(weights_path),
              "--no-superpixels"]
    assert cli(common + ["--detections", str(tmp_path / "by-name.json"), "--out", str(tmp_path / "a.json")]) == 0
    assert cli(common + ["--detections", str(tmp_path / "listed.json"), "--out", str(tmp_path / "b.json")]) == 0
    assert cli(segment_args(folder, weights_path, model_path, folder / "dets.json", tmp_path / "c.json")) == 0
    by_files, by_list, by_coco = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json", "c.json"))
    assert [r["segmentation"] for r in by_files] == [r["segmentation"] for r in by_coco] \
        == [r["segmentation"] for r in by_list]
    assert [set(r) for r in by_files] == [set(d) | {"segmentation"} for d in by_name]   # no image id made up
    assert [r["image_id"] for r in by_list] == ["x", "x"]
    out = tmp_path / "d.json"
    (tmp_path / "missing.json").write_text(json.dumps([dict(by_name[0], file_name="nowhere.png")]))
    assert_refused(capsys, common + ["--detections", tmp_path / "missing.json", "--out", out], ["nowhere.png"], [out])
    (tmp_path / "unnamed.json").write_text(json.dumps(given))
    assert_refused(capsys, common + ["--detections", tmp_path / "unnamed.json", "--out", out],
                   [tmp_path / "unnamed.json", "detection 0", "file_name"], [out])
    assert_refused(capsys, common + ["--detections", tmp_path / "by-name.json", "--out", out, "--annotations",
                                     folder / "coco.json"], ["--images"], [out])


def test_a_category_map_puts_your_names_onto_a_per_category_grids(setup, tmp_path, capsys):
    from dataclasses import replace

    from hypercolumns.classifiers.model_file import load_grid

    folder, weights_path, model_path, _ = setup
    agnostic = load_grid(model_path)          # the same weights under the name "dog" only, no agnostic grid
    dog = replace(agnostic, categories=["dog"], coef={"dog": agnostic.coef[AGNOSTIC]},
                  intercept={"dog": agnostic.intercept[AGNOSTIC]}, info={})
    dog_path = save_grid(dog, tmp_path / "dog.h5")
    out = tmp_path / "results.json"
    args = segment_args(folder, weights_path, dog_path, folder / "dets.json", out)
    assert_refused(capsys, args, [folder / "dets.json", "detection 0", "'cat'", "--category-map"], [out])
    (tmp_path / "map.json").write_text(json.dumps({"cat": "dog"}))
    assert cli(args + ["--category-map", str(tmp_path / "map.json")]) == 0
    assert cli(segment_args(folder, weights_path, model_path, folder / "dets.json", tmp_path / "agnostic.json")) == 0
    assert [r["segmentation"] for r in json.loads(out.read_text())] == \
        [r["segmentation"] for r in json.loads((tmp_path / "agnostic.json").read_text())]
    (tmp_path / "bad.json").write_text('["cat", "dog"]')
    other = tmp_path / "other.json"
    assert_refused(capsys, segment_args(folder, weights_path, dog_path, folder / "dets.json", other)
                   + ["--category-map", str(tmp_path / "bad.json")], [tmp_path / "bad.json"], [other])


def test_viz_panels_write_one_picture_per_detection(setup, tmp_path):
    folder, weights_path, model_path, _ = setup
    assert cli(segment_args(folder, weights_path, model_path, folder / "dets.json", tmp_path / "r.json")
               + ["--viz", str(tmp_path / "viz"), "--viz-panels", "--viz-mode", "boxes", "--viz-alpha", "0.3"]) == 0
    panels = sorted(p.name for p in (tmp_path / "viz" / "panels").iterdir())
    assert panels == ["a-0.png", "a-1.png"]          # the image's stem, the detection's index
    assert cv2.imread(str(tmp_path / "viz" / "panels" / "a-0.png")).shape[0] == 160
    assert cv2.imread(str(tmp_path / "viz" / "a.png")).shape == (80, 100, 3)


def test_after_filtering_errors_and_results_keep_the_files_own_numbers_and_ids(setup, tmp_path, capsys):
    folder, weights_path, model_path, _ = setup
    entries = [{"image_id": 7, "category_id": 3, "bbox": [10, 5, 50, 60], "score": 0.1},
               {"image_id": 7, "category_id": 4, "bbox": [10, 5, 50, 60], "score": 0.9}]
    (tmp_path / "dets.json").write_text(json.dumps(entries))
    out = tmp_path / "r.json"
    assert_refused(capsys, segment_args(folder, weights_path, model_path, tmp_path / "dets.json", out)
                   + ["--confidence-threshold", "0.5"], ["detection 1", "category_id 4"], [out])
    named = [{"file_name": "a.png", "image_id": "cam3-0042", "category_id": 3, "bbox": [10, 5, 50, 60], "score": 1}]
    (tmp_path / "named.json").write_text(json.dumps(named))
    assert cli(["segment", "--images", str(folder), "--detections", str(tmp_path / "named.json"), "--model",
                str(model_path), "--weights", str(weights_path), "--out", str(out), "--no-superpixels"]) == 0
    (result,) = json.loads(out.read_text())
    assert {k: v for k, v in result.items() if k != "segmentation"} == named[0]
