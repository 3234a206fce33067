"""The selection protocol: folds by image, choices recorded, and no reported image reaching a choice."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hypercolumns.classifiers.selection import (ReportedImageError, choose, heldout_images, image_folds,
                                                nested_folds, reporting_on)
from hypercolumns.classifiers.train import TrainOptions, train_grids

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_shards import write_synthetic_shards  # noqa: E402


def test_choose_takes_the_best_score_and_the_first_on_a_tie():
    chosen = choose("projection", {"felzenszwalb": 0.5, "none": 0.5, "slic": 0.4}, ["a", "b"],
                    criterion="c", selected_on="training images, 2-fold by image")
    assert chosen.chosen == "felzenszwalb" and chosen.images == 2
    lowest = choose("grid C", {1e-3: 0.7, 1e-4: 0.6, 1e-5: 0.9}, ["a"], criterion="log-loss",
                    selected_on="s", higher_is_better=False)
    assert lowest.chosen == 1e-4
    record = lowest.as_dict()
    assert record["selected_on"] == "s" and record["scores"] == {"0.001": 0.7, "0.0001": 0.6, "1e-05": 0.9}


def test_a_reported_image_refuses_the_choice_and_the_guard_ends_with_its_block():
    with reporting_on(["2008_000008", 7]):
        with pytest.raises(ReportedImageError, match="1 reported image.*'7'"):
            choose("projection", {"none": 1.0}, np.array([3, 7, 9]), criterion="c", selected_on="s")
        choose("projection", {"none": 1.0}, ["2008_000009"], criterion="c", selected_on="s")
    choose("projection", {"none": 1.0}, ["2008_000008"], criterion="c", selected_on="s")


def test_heldout_images_is_a_function_of_the_image():
    ids = np.array(["a", "b", "a", "c", "b"] * 20)
    flags = heldout_images(ids, 0.5, seed=0)
    for image in "abc":
        assert len(set(flags[ids == image])) == 1
    assert not heldout_images(ids, 0.0, seed=0).any()


def test_folds_are_a_function_of_the_image_id():
    ids = [f"image{i}" for i in range(300)]
    folds = image_folds(ids, 3)
    assert set(folds) == {0, 1, 2} and min(np.bincount(folds)) > 70
    np.testing.assert_array_equal(folds, image_folds(ids, 3))
    np.testing.assert_array_equal(image_folds(ids[::-1], 3), folds[::-1])
    assert (image_folds(ids, 3, seed=1) != folds).any()


def test_nested_folds_partition_the_images_and_inner_folds_stay_inside_their_outer_training():
    ids = [f"image{i:03d}" for i in range(90)]
    folds = nested_folds(ids, outer=3, inner=2)
    reported = [set(f.reported) for f in folds]
    assert set().union(*reported) == set(ids) and sum(map(len, reported)) == len(ids)
    for fold in folds:
        inner = [set(members) for members in fold.inner]
        assert len(inner) == 2 and not inner[0] & inner[1]
        assert inner[0] | inner[1] == set(ids) - set(fold.reported) == set(fold.training)
        assert min(map(len, inner)) > 10
    assert nested_folds(ids[::-1]) == folds          # a function of the ids, not of their order


def test_grid_C_is_chosen_through_the_protocol_and_refuses_a_reported_held_out_image(tmp_path):
    shards = tmp_path / "shards"
    write_synthetic_shards(shards, n_shards=2, boxes_per_shard=24)
    options = TrainOptions(Ks=(1,), C_grid=(1e-3, 1e-1), n_jobs=1, show_progress=False, holdout=0.5)
    summary = train_grids(shards, tmp_path / "ok", options, log=lambda *_: None)
    facts = json.loads((tmp_path / "ok" / "train-summary.json").read_text())
    held = facts["split"]["heldout_images"]
    assert facts["grids"]["1"]["C_selected_on"] == "training images, 50% held out by image"
    assert summary is not None and held
    with reporting_on(facts["split"]["train_images"]):    # training on them is not a choice
        train_grids(shards, tmp_path / "train-only", options, log=lambda *_: None)
    with reporting_on(held[:1]), pytest.raises(ReportedImageError, match="grid C"):
        train_grids(shards, tmp_path / "leak", options, log=lambda *_: None)
