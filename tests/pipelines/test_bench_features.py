"""The extraction bench: every crop it runs is counted, and fixed costs are told from the steady rate."""
from __future__ import annotations

from types import SimpleNamespace

import h5py
import pytest

from hypercolumns.pipelines.bench import bench_features
from hypercolumns.pipelines.bench.bench_features import steady_state, whole_images_of


def test_steady_state_is_the_slope_and_the_intercept():
    # 50 crops in 7 s and 100 in 12 s: 0.1 s a crop, 2 s paid once
    result = steady_state((50, 100), (7.0, 12.0))
    assert result["ms_per_crop"] == pytest.approx(100.0)
    assert result["fixed_seconds"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="more crops"):
        steady_state((100, 100), (1.0, 2.0))


def test_whole_images_hold_every_one_of_their_boxes():
    records = ["a", "b", "c"]
    jobs = [SimpleNamespace(record=r) for r in (0, 0, 0, 1, 1, 2)]
    assert whole_images_of(records, jobs, 3) == ["a"]
    assert whole_images_of(records, jobs, 4) == ["a", "b"]    # b's two boxes come with it: 5 crops
    assert whole_images_of(records, jobs, 99) == records


def test_the_crops_counted_are_the_crops_written(data_root, tiny_cnn, monkeypatch):
    """Before, the bench timed every box of the images it chose but divided by the boxes it asked for
    (104 crops run, 96 counted at the default): the shards' own box count must be the one reported."""
    from hypercolumns.data.datasets import load_training_records

    cnn, _ = tiny_cnn
    written = {}
    run = bench_features.run_features

    def counting(records, out, *args, **kwargs):
        summary = run(records, out, *args, **kwargs)
        written[out.name] = sum(h5py.File(p, "r")["boxes/image_id"].shape[0] for p in out.glob("shard-*.h5"))
        return summary

    monkeypatch.setattr(bench_features, "run_features", counting)
    result = bench_features.measure_extraction(cnn, load_training_records(data_root)[1:10], boxes=12, batch_size=4)
    assert result["boxes"] == written["all"] >= 12 and result["boxes_first_run"] == written["half"]
    assert 0 < written["half"] < written["all"]
    total = result["extraction_ms_per_crop"] * result["boxes"] / 1e3
    assert total == pytest.approx(result["steady_ms_per_crop"] * result["boxes"] / 1e3 + result["fixed_seconds"])


def test_bench_measures_extraction_with_the_engine_it_is_given(data_root, random_vgg16, capsys):
    """``bench --engine`` runs the extraction section's forward and shards on that engine, and says so."""
    from hypercolumns.pipelines.bench.bench import run_sections

    results = run_sections(["extraction"], data_root, None, None, weights=random_vgg16(0), boxes=4,
                           batch_size=2, engine="torch-nchw")
    assert results["extraction"]["engine"] == "torch-nchw"
    assert "engine torch-nchw" in capsys.readouterr().out


def test_bench_measures_engines_first_so_that_auto_extracts_with_this_runs_choice(data_root, random_vgg16,
                                                                                     tmp_path, monkeypatch, capsys):
    """``make bench`` (``--engine auto``) on a machine never measured: the engines section runs before
    extraction, stores its choice, and extraction runs on that choice."""
    from hypercolumns.pipelines.bench import bench_engines
    from hypercolumns.pipelines.bench.bench import run_sections

    monkeypatch.setenv("HYPERCOLUMNS_CACHE", str(tmp_path))   # no stored measurement: auto alone is refused
    measured = {"device": "cpu", "device_name": "test cpu", "threads": 1, "crops": 2, "batch_size": 2,
                "fastest_agreeing": "torch-nchw",
                "engines": [{"engine": "torch-nchw", "ms_per_crop": 1.0, "gflop_per_s": 1.0,
                             "max_heatmap_difference": 0.0, "mean_mask_iou": 1.0, "agrees": True}]}
    monkeypatch.setattr(bench_engines, "measure_engines", lambda *args, **kwargs: measured)
    results = run_sections(["extraction", "engines"], data_root, None, None, weights=random_vgg16(0), boxes=4,
                           batch_size=2, engine="auto")
    assert results["engine"] == {"asked": "auto", "chosen": "torch-nchw"}
    assert results["extraction"]["engine"] == "torch-nchw"
    out = capsys.readouterr().out
    assert out.index("fastest that agrees: torch-nchw") < out.index("engine torch-nchw")
