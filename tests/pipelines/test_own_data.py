"""Your own data: features on COCO files given by flags, crowd regions never targets, the plain protocol."""
import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from hypercolumns.data.errors import InputError
from hypercolumns.extract.weights import save_weights
from hypercolumns.pipelines.commands.cli import main as cli

IMAGES = ("000000000009", "000000000025", "000000000030", "000000000034")


def coco_from_yolo(data_root: Path, ids, crowd_image: str) -> dict:
    """coco128-seg's labels as a COCO JSON with polygons, read straight from the label files (class,
    then x y pairs as fractions of the image); the first annotation of ``crowd_image`` marked iscrowd."""
    folder = data_root / "coco128-seg"
    names = [line.strip() for line in (folder / "classes.txt").read_text().splitlines() if line.strip()]
    images, annotations = [], []
    for number, image_id in enumerate(ids, start=1):
        height, width = cv2.imread(str(folder / "images" / "train2017" / f"{image_id}.jpg")).shape[:2]
        images.append({"id": number, "file_name": f"{image_id}.jpg", "width": width, "height": height})
        for k, line in enumerate((folder / "labels" / "train2017" / f"{image_id}.txt").read_text().splitlines()):
            values = line.split()
            xy = np.array(values[1:], float).reshape(-1, 2) * [width, height]
            x0, y0 = xy.min(0)
            x1, y1 = xy.max(0)
            annotations.append({"id": len(annotations) + 1, "image_id": number, "category_id": int(values[0]) + 1,
                                "segmentation": [xy.ravel().tolist()], "bbox": [x0, y0, x1 - x0, y1 - y0],
                                "iscrowd": int(image_id == crowd_image and k == 0)})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}


def test_features_from_coco_files_never_target_a_crowd_region(data_root, tmp_path, monkeypatch, random_vgg16):
    monkeypatch.chdir(tmp_path)            # the data set's description goes to work/datasets here
    coco = coco_from_yolo(Path(data_root), IMAGES[:3], crowd_image=IMAGES[1])
    (tmp_path / "train.json").write_text(json.dumps(coco))
    weights = save_weights(random_vgg16(0), "random-vgg16", tmp_path / "weights")
    images = Path(data_root).absolute() / "coco128-seg" / "images" / "train2017"
    assert cli(["features", "--train-annotations", str(tmp_path / "train.json"), "--train-images", str(images),
                "--out", str(tmp_path / "features"), "--weights", str(weights), "--boxes-per-instance", "1",
                "--no-flips", "--batch-size", "4"]) == 0
    boxes = []
    for shard in sorted((tmp_path / "features").glob("shard-*.h5")):
        with h5py.File(shard) as f:
            boxes += zip(f["boxes/image_id"].asstr()[:], f["boxes/instance"][:], f["boxes/category"].asstr()[:])
    crowd = [a for a in coco["annotations"] if a["iscrowd"]][0]
    instances = {number: [a for a in coco["annotations"] if a["image_id"] == number] for number in (1, 2, 3)}
    assert boxes and {image for image, _, _ in boxes} <= {"1", "2", "3"}
    for image, instance, category in boxes:
        annotation = instances[int(image)][instance]
        assert annotation is not crowd and annotation["iscrowd"] == 0
        assert category == coco["categories"][annotation["category_id"] - 1]["name"]   # COCO's own names
    crowd_image_boxes = [i for image, i, _ in boxes if image == "2"]
    assert 0 not in crowd_image_boxes and crowd_image_boxes        # its other instances still are targets
    description = json.loads(next((tmp_path / "work" / "datasets").glob("*/dataset.json")).read_text())
    assert description == {"train": {"annotations": str(tmp_path / "train.json"), "images": str(images)}}


def test_a_files_data_set_has_the_plain_protocol_and_names_a_missing_split(tmp_path):
    from hypercolumns.data.datasets import dataset_kind, describe_dataset, load_val_records
    from hypercolumns.pipelines.experiments.nested_cv import default_protocol

    root = describe_dataset(tmp_path / "d", tmp_path / "train.json", tmp_path)
    assert dataset_kind(root) == "files" and default_protocol(root) == "plain"
    with pytest.raises(InputError, match="--val-annotations and --val-images"):
        load_val_records(root)
    with pytest.raises(InputError, match="together"):
        describe_dataset(tmp_path / "e", tmp_path / "train.json", tmp_path, val_annotations=tmp_path / "v.json")


def test_data_root_and_own_files_are_one_or_the_other(data_root, tmp_path, capsys):
    for args, said in ((["--data-root", str(data_root), "--train-annotations", "a.json", "--train-images", "x"],
                        "not both"), (["--train-annotations", "a.json"], "together"), ([], "give --data-root")):
        with pytest.raises(SystemExit) as stopped:
            cli(["features", *args, "--out", str(tmp_path / "f")])
        assert stopped.value.code == 2 and said in capsys.readouterr().err
    assert not (tmp_path / "f").exists()


def test_features_train_grid_and_eval_sds_run_on_your_own_files(data_root, tmp_path, monkeypatch, random_vgg16,
                                                                 capsys):
    """The commands of README *Train on your own data* on three training and one val image (random weights:
    the figures mean nothing, the path through the flags is what is checked)."""
    monkeypatch.chdir(tmp_path)
    images = Path(data_root).absolute() / "coco128-seg" / "images" / "train2017"
    (tmp_path / "train.json").write_text(json.dumps(coco_from_yolo(Path(data_root), IMAGES[:3], "none")))
    val = coco_from_yolo(Path(data_root), IMAGES[3:], "none")
    (tmp_path / "val.json").write_text(json.dumps(val))
    weights = str(save_weights(random_vgg16(0), "random-vgg16", tmp_path / "weights"))
    own = ["--train-annotations", str(tmp_path / "train.json"), "--train-images", str(images),
           "--val-annotations", str(tmp_path / "val.json"), "--val-images", str(images)]
    assert cli(["features", *own, "--out", "work/features", "--weights", weights, "--boxes-per-instance", "1",
                "--no-flips"]) == 0
    assert cli(["train-grid", "--shards", "work/features", "--out", "work/models", "--K", "1", "--C-grid", "0.001",
                "--n-jobs", "1", "--min-rows-per-cell", "1"]) == 0
    assert cli(["eval-sds", *own, "--models", "work/models", "--out", "results/sds", "--weights", weights,
                "--protocol", "fixed", "--superpixels", "none", "--seeds", "0"]) == 0
    summary = json.loads((tmp_path / "results" / "sds" / "summary.json").read_text())
    rows = {row["system"]: row for row in summary["rows"]}
    assert set(rows) == {"grid-K1 none", "whole box"} and summary["protocol"] == "fixed"
    written = json.loads((tmp_path / "results" / "sds" / "val_annotations.json").read_text())
    assert len(written["annotations"]) == len(val["annotations"])          # the val file's instances
    assert {c["name"] for c in written["categories"]} >= {val["categories"][a["category_id"] - 1]["name"]
                                                          for a in val["annotations"]}


def test_the_demo_commands_run_on_four_images(data_root, tmp_path, monkeypatch, random_vgg16):
    """`make demo-own-data`'s commands, in its order, on four coco128-seg images (random weights)."""
    monkeypatch.chdir(tmp_path)
    source = Path(data_root).absolute() / "coco128-seg"
    yolo = tmp_path / "yolo"
    for folder in ("images/train2017", "labels/train2017"):
        (yolo / folder).mkdir(parents=True)
    (yolo / "classes.txt").write_text((source / "classes.txt").read_text())
    for image_id in IMAGES:
        (yolo / "images" / "train2017" / f"{image_id}.jpg").symlink_to(source / "images" / "train2017" / f"{image_id}.jpg")
        (yolo / "labels" / "train2017" / f"{image_id}.txt").write_text(
            (source / "labels" / "train2017" / f"{image_id}.txt").read_text())
    images = str(yolo / "images" / "train2017")
    weights = str(save_weights(random_vgg16(0), "random-vgg16", tmp_path / "weights"))
    assert cli(["yolo-to-coco", "--yolo", str(yolo), "--out", "train.json", "--holdout-out", "val.json"]) == 0
    train, val = (json.loads(Path(name).read_text()) for name in ("train.json", "val.json"))
    by_hand = coco_from_yolo(Path(data_root), IMAGES, "none")     # the label files read independently
    assert [i["file_name"] for i in train["images"]] == [f"{IMAGES[0]}.jpg", f"{IMAGES[2]}.jpg"]
    assert [i["file_name"] for i in val["images"]] == [f"{IMAGES[1]}.jpg", f"{IMAGES[3]}.jpg"]
    ours = {(a["image_id"], tuple(np.round(a["segmentation"][0], 3))) for a in train["annotations"] + val["annotations"]}
    assert ours == {(a["image_id"], tuple(np.round(a["segmentation"][0], 3))) for a in by_hand["annotations"]}
    assert cli(["features", "--train-annotations", "train.json", "--train-images", images, "--out", "features",
                "--weights", weights, "--boxes-per-instance", "1", "--no-flips"]) == 0
    assert cli(["train-grid", "--shards", "features", "--out", "models", "--K", "1", "--C-grid", "0.001",
                "--n-jobs", "1", "--min-rows-per-cell", "1"]) == 0
    assert cli(["oracle-boxes", "--annotations", "val.json", "--out", "boxes.json"]) == 0
    assert cli(["segment", "--annotations", "val.json", "--image-root", images, "--detections", "boxes.json",
                "--model", "models/grid-K1.h5", "--weights", weights, "--out", "results.json"]) == 0
    assert cli(["evaluate", "--annotations", "val.json", "--results", "results.json", "--json", "summary.json"]) == 0
    summary = json.loads(Path("summary.json").read_text())
    assert len(json.loads(Path("results.json").read_text())) == len(val["annotations"])
    assert {"APr@0.5", "APr@0.7", "coco_mask_ap"} <= set(summary)


def test_oracle_boxes_refuse_an_annotation_without_a_box_and_leave_crowds_out(tmp_path, capsys):
    from refusal import assert_refused

    base = {"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}],
            "categories": [{"id": 1, "name": "cat"}]}
    (tmp_path / "nobox.json").write_text(json.dumps({**base, "annotations": [
        {"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 8, 1, 8, 8, 1, 8]]}]}))
    out = tmp_path / "boxes.json"
    assert_refused(capsys, ["oracle-boxes", "--annotations", tmp_path / "nobox.json", "--out", out],
                   ["nobox.json", "annotation 5", "bbox"], [out])
    (tmp_path / "crowd.json").write_text(json.dumps({**base, "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 8, 1, 8, 8, 1, 8]], "bbox": [1, 1, 7, 7]},
        {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 9, 0, 9, 9, 0, 9]], "bbox": [0, 0, 9, 9],
         "iscrowd": 1}]}))
    assert cli(["oracle-boxes", "--annotations", str(tmp_path / "crowd.json"), "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())) == 1
