"""``hypercolumns features`` refuses bad input (issue 16): exit 2, one line naming it, no shard written.

A small data root in the shared layout (``coco128-seg`` with two images,
``sds-splits/train.txt``) is valid as written (:func:`test_the_fake_data_root_is_read`);
each test breaks one thing in it, or passes one impossible flag.  The cases
refused before the CNN is built cost milliseconds; the others load the
cached ImageNet VGG16 (``make weights``) and stop before any crop.
"""
from __future__ import annotations

import cv2
import h5py
import numpy as np
import pytest
from refusal import assert_refused

from hypercolumns.data.datasets import load_training_records
from hypercolumns.data.errors import MissingFileError
from hypercolumns.extract.features import extract_features

# a polygon over most of the image: boxes large enough to sample
POLYGON = "0 0.1 0.1 0.9 0.1 0.9 0.9 0.1 0.9"


@pytest.fixture
def data_root(tmp_path):
    """A shared-layout data root: coco128-seg with two 120 x 90 images of one person each."""
    root = tmp_path / "data"
    coco = root / "coco128-seg"
    (coco / "images" / "train2017").mkdir(parents=True)
    (coco / "labels" / "train2017").mkdir(parents=True)
    (coco / "classes.txt").write_text("person\ndog\n")
    rng = np.random.default_rng(0)
    for name in ("000000000001", "000000000002"):
        image = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
        cv2.imwrite(str(coco / "images" / "train2017" / f"{name}.jpg"), image)
        (coco / "labels" / "train2017" / f"{name}.txt").write_text(POLYGON + "\n")
    (root / "sds-splits").mkdir()
    (root / "sds-splits" / "train.txt").write_text("")
    return root


def assert_features_refused(capsys, data_root, out, names, *flags) -> str:
    """``features`` on ``data_root`` into ``out`` is refused naming ``names``; ``out`` is not made."""
    return assert_refused(capsys, ["features", "--data-root", data_root, "--out", out, *flags],
                          names, [out])


def test_the_fake_data_root_is_read(data_root):
    records = load_training_records(data_root)
    assert [len(record.instances) for record in records] == [1, 1]


def test_a_data_root_that_does_not_exist_is_refused(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    assert_features_refused(capsys, missing, tmp_path / "out", ["data root not found", missing])
    with pytest.raises(MissingFileError):
        extract_features(missing, tmp_path / "out")


def test_a_data_root_without_the_data_sets_is_refused(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_features_refused(capsys, empty, tmp_path / "out", [empty, "coco128-seg"])


def test_a_malformed_label_file_is_refused_naming_file_and_line(capsys, data_root, tmp_path):
    label = data_root / "coco128-seg" / "labels" / "train2017" / "000000000002.txt"
    label.write_text(POLYGON + "\n0 0.5 0.5 0.2 0.2\n")   # line 2: a detection label
    assert_features_refused(capsys, data_root, tmp_path / "out", [f"{label}:2"])


def test_a_class_index_beyond_the_class_list_is_refused(capsys, data_root, tmp_path):
    label = data_root / "coco128-seg" / "labels" / "train2017" / "000000000001.txt"
    label.write_text("7" + POLYGON[1:] + "\n")
    assert_features_refused(capsys, data_root, tmp_path / "out", [f"{label}:1", "class index 7"])


def test_a_missing_class_list_is_refused(capsys, data_root, tmp_path):
    classes = data_root / "coco128-seg" / "classes.txt"
    classes.unlink()
    assert_features_refused(capsys, data_root, tmp_path / "out", [classes])


def test_an_image_that_is_not_an_image_is_refused(capsys, data_root, tmp_path):
    image = data_root / "coco128-seg" / "images" / "train2017" / "000000000001.jpg"
    image.write_bytes(b"not a jpeg")
    assert_features_refused(capsys, data_root, tmp_path / "out", [image])


def test_a_malformed_split_list_is_refused(capsys, data_root, tmp_path):
    split = data_root / "sds-splits" / "train.txt"
    split.write_text("2008_000002\n2008_000002\n")
    assert_features_refused(capsys, data_root, tmp_path / "out", [f"{split}:2", "listed twice"])


@pytest.mark.parametrize("flag,value", [
    ("--rows-per-cell", "0"), ("--rows-per-cell", "26"), ("--min-iou", "1.5"),
    ("--boxes-per-instance", "0"), ("--boxes-per-shard", "0"), ("--batch-size", "0"),
    ("--limit-images", "0"), ("--shared-features", "-224"), ("--shared-margin", "-1")])
def test_an_impossible_option_value_is_refused_naming_the_option(capsys, data_root, tmp_path,
                                                                 flag, value):
    assert_features_refused(capsys, data_root, tmp_path / "out", [flag, value], flag, value)


def test_the_scheduler_and_shared_features_together_are_refused(capsys, data_root, tmp_path):
    assert_features_refused(capsys, data_root, tmp_path / "out", ["--shared-features", "--scheduler"],
            "--shared-features", "224", "--scheduler", "tcp://127.0.0.1:9")


def test_a_malformed_layer_spec_is_refused_before_the_data_is_read(capsys, tmp_path):
    # tmp_path holds no data set: the spec is checked before the data is read
    assert_features_refused(capsys, tmp_path, tmp_path / "out", ["layer spec 'pool3:2'", "odd"],
            "--layers", "pool3:2")


def test_a_layer_the_network_lacks_is_refused(capsys, data_root, tmp_path):
    assert_features_refused(capsys, data_root, tmp_path / "out", ["'conv9_9'", "vgg16"], "--layers", "conv9_9")


def test_a_padding_that_leaves_no_room_is_refused(capsys, data_root, tmp_path):
    assert_features_refused(capsys, data_root, tmp_path / "out", ["--padding 112", "224px"], "--padding", "112")


def test_a_small_box_context_without_room_or_below_zero_is_refused(capsys, data_root, tmp_path):
    assert_features_refused(capsys, data_root, tmp_path / "out", ["--small-box-context's padding 112", "224px"],
                            "--small-box-context", "64", "112")
    assert_features_refused(capsys, data_root, tmp_path / "out", ["below -1 px"],
                            "--small-box-context", "-1", "48")


def test_garbage_weights_are_refused_naming_the_file(capsys, data_root, tmp_path):
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"garbage" * 100)
    assert_features_refused(capsys, data_root, tmp_path / "out", [weights, "not a PyTorch weights file"],
            "--weights", weights)


def test_missing_weights_are_refused_naming_the_file(capsys, data_root, tmp_path):
    weights = tmp_path / "absent.pt"
    assert_features_refused(capsys, data_root, tmp_path / "out", ["weights not found", weights],
            "--weights", weights)


def test_records_without_boxes_large_enough_are_refused(capsys, data_root, tmp_path):
    for label in (data_root / "coco128-seg" / "labels" / "train2017").glob("*.txt"):
        label.write_text("0 0.1 0.1 0.15 0.1 0.15 0.15\n")      # 6 x 4 px: below min_side
    assert_features_refused(capsys, data_root, tmp_path / "out", ["no training boxes"])


def extracted(capsys, data_root, out) -> list:
    """The shards of a quick run (one box per instance) into ``out``."""
    from hypercolumns.pipelines.commands.cli import main as cli

    assert cli(["features", "--data-root", str(data_root), "--out", str(out),
                "--boxes-per-instance", "1"]) == 0
    capsys.readouterr()
    return sorted(out.glob("shard-*.h5"))


def test_a_shard_of_another_config_in_out_is_refused_and_kept(capsys, data_root, tmp_path):
    out = tmp_path / "out"
    (shard,) = extracted(capsys, data_root, out)
    before = shard.read_bytes()
    assert_refused(capsys, ["features", "--data-root", data_root, "--out", out,
                            "--boxes-per-instance", "1", "--padding", "8"],
                   [shard, "another feature config", "padding: shard has 16, current config 8"])
    assert shard.read_bytes() == before and sorted(out.iterdir()) == [shard]


def test_a_truncated_shard_in_out_is_refused(capsys, data_root, tmp_path):
    out = tmp_path / "out"
    (shard,) = extracted(capsys, data_root, out)
    shard.write_bytes(shard.read_bytes()[:1000])
    assert_refused(capsys, ["features", "--data-root", data_root, "--out", out,
                            "--boxes-per-instance", "1"], [shard, "truncated"])
    with pytest.raises(OSError):
        h5py.File(shard, "r")   # the file h5py refuses is the one named


def test_boxes_are_mirrored_unless_the_paper_protocol_is_asked_for(data_root, tmp_path):
    """The default (compare-quality's choice): every box also mirrored, twice the rows of
    --no-flips; not where no crop is made (shared features) or candidates would need mirroring."""
    from hypercolumns.extract.features import default_flips
    from hypercolumns.extract.layer_spec import LayerSpec
    from hypercolumns.extract.shards import list_shards, shards_config

    summaries = {}
    for name, flips in (("default", None), ("paper", False)):
        summaries[name] = extract_features(data_root, tmp_path / name, boxes_per_instance=1, flips=flips)
    assert shards_config(list_shards(tmp_path / "default")).flips
    assert not shards_config(list_shards(tmp_path / "paper")).flips
    assert summaries["default"]["rows"] == 2 * summaries["paper"]["rows"] > 0
    plain, with_candidates = LayerSpec.parse("conv4_3,global"), LayerSpec.parse("conv4_3,global,candidate")
    assert default_flips(None, plain) and not default_flips(224, plain)
    assert with_candidates.needs_candidates and not default_flips(None, with_candidates)
