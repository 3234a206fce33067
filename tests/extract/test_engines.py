"""The CNN engines: each gives fp32 torch's layer outputs within its precision, refuses where it cannot run,
and ``auto`` reads this machine's stored measurement."""
import json

import numpy as np
import pytest
import torch

from hypercolumns.data.errors import InputError
from hypercolumns.extract import engines
from hypercolumns.extract.cnn import FrozenCNN
from hypercolumns.pipelines.bench.bench_engines import mask_iou

LAYERS = ["pool3", "conv4_3", "conv5_3"]


@pytest.fixture(scope="module")
def crops():
    torch.manual_seed(1)
    return torch.randn(2, 3, 224, 224) * 40


@pytest.mark.parametrize("engine, tolerance", [("torch-nchw", 1e-4), ("onnxruntime", 1e-4), ("torch-bf16", 3e-2)])
def test_each_engine_gives_fp32_torchs_outputs_within_its_precision(random_vgg16, crops, engine, tolerance):
    if engine not in engines.available_engines("cpu"):
        pytest.skip(f"{engine} does not run on this machine")
    weights = random_vgg16(0)
    expected = FrozenCNN(weights, device="cpu").forward(crops, LAYERS)
    cnn = FrozenCNN(weights, device="cpu", engine=engine)
    outputs = cnn.forward(crops, LAYERS)
    for name in LAYERS:
        assert outputs[name].dtype == torch.float32 and outputs[name].shape == expected[name].shape
        relative = float((outputs[name] - expected[name]).abs().max() / expected[name].abs().max())
        assert relative < tolerance, (name, relative)
    if engine == "torch-bf16":    # bfloat16 really ran: its 8-bit mantissa leaves a visible difference
        assert float((outputs["conv5_3"] - expected["conv5_3"]).abs().max()) > 0
    if engine == "onnxruntime":   # the graph ran in onnxruntime, one session for these layers
        assert list(cnn._onnx.sessions) == [tuple(LAYERS)]


def test_engines_are_refused_where_they_cannot_run(monkeypatch):
    with pytest.raises(InputError, match="'fp8' is unknown"):
        engines.check_engine("fp8", "cpu")
    monkeypatch.setattr(engines, "cpu_flags", lambda: {"avx2", "fma"})
    assert not engines.native_bf16() and "torch-bf16" not in engines.available_engines("cpu")
    with pytest.raises(InputError, match="no native bfloat16"):
        engines.check_engine("torch-bf16", "cpu")
    assert engines.native_bf16({"avx512f", "avx512_bf16"}) and engines.native_bf16({"amx_bf16"})


def test_auto_takes_the_stored_measurements_fastest_agreeing_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERCOLUMNS_CACHE", str(tmp_path))
    with pytest.raises(InputError, match="make bench"):
        engines.resolve_engine("auto", "cpu")
    engines.remember_measurement({"fastest_agreeing": "torch-nchw", "engines": []}, "cpu")
    assert engines.resolve_engine("auto", "cpu") == "torch-nchw"
    assert engines.resolve_engine("torch", "cpu") == "torch"
    stored = engines.measurement_path("cpu")
    assert stored.parent == tmp_path / "engines" and json.loads(stored.read_text())["fastest_agreeing"] == "torch-nchw"


def test_the_engine_is_recorded_so_that_shards_of_two_engines_never_mix(tmp_path):
    from hypercolumns.extract.config import FeatureConfig
    from test_config import one_row_shard, todays_dict
    from hypercolumns.extract.shards import check_shard

    fp32 = FeatureConfig.from_dict(todays_dict())
    bf16 = FeatureConfig.from_dict({**todays_dict(), "engine": "torch-bf16"})
    assert "engine" not in fp32.recorded() and "engine" not in fp32.to_dict()     # older hashes kept
    assert bf16.recorded()["engine"] == "torch-bf16" and bf16.compute_hash() != fp32.compute_hash()
    shard = one_row_shard(tmp_path / "shard-00000.h5", bf16)
    with pytest.raises(InputError, match="engine"):
        check_shard(shard, fp32)


def test_mask_iou_of_hand_made_heatmaps():
    a = np.zeros((3, 4, 4))
    b = np.zeros((3, 4, 4))
    a[0, :2] = 1.0          # 8 pixels
    b[0, :1] = 0.5          # 4 of them, at 0.5 >= 0.4
    a[1, 0, 0] = 0.39       # below the threshold: both empty
    b[2, 3, 3] = 0.4        # one pixel against none
    np.testing.assert_allclose(mask_iou(a, b), [0.5, 1.0, 0.0])


def test_auto_without_a_stored_measurement_measures_once_and_keeps_the_choice(tmp_path, monkeypatch, random_vgg16,
                                                                            random_grid_file):
    """`--engine auto` on a machine never benched: the engines are measured once (here a stand-in measurement),
    the choice is stored, and the next `auto` reads it without measuring again."""
    from hypercolumns.pipelines.bench import bench_engines

    monkeypatch.setenv("HYPERCOLUMNS_CACHE", str(tmp_path))
    calls = []

    def measure(model_path, records, weights, device, boxes=48, batch_size=16):
        calls.append((len(records), boxes, weights.sha256))
        assert model_path.is_file() and all(record.instances for record in records)
        return {"device": str(device), "device_name": "test", "threads": 1, "crops": boxes,
                "batch_size": batch_size, "fastest_agreeing": "torch-nchw", "engines": []}

    monkeypatch.setattr(bench_engines, "measure_engines", measure)
    weights = random_vgg16(0)
    assert bench_engines.measured_engine("torch", "cpu", weights) == "torch" and not calls
    assert bench_engines.measured_engine("auto", "cpu", weights) == "torch-nchw"
    assert calls == [(4, 12, weights.sha256)]      # the command's own network, on 4 synthetic images
    assert engines.measurement_path("cpu").is_file()
    assert bench_engines.measured_engine("auto", "cpu", weights) == "torch-nchw" and len(calls) == 1
    # with the command's own grid, that grid is what the engines are compared on
    engines.measurement_path("cpu").unlink()
    _, grid = random_grid_file(tmp_path / "mine")   # an agnostic per-box grid of the same network
    models = []
    monkeypatch.setattr(bench_engines, "measure_engines", lambda model_path, *a, **k: models.append(model_path)
                        or measure(model_path, *a, **k))
    assert bench_engines.measured_engine("auto", "cpu", weights, model=grid) == "torch-nchw" and models == [grid]


def test_only_an_agnostic_per_box_grid_of_the_same_network_is_measured_as_it_is(tmp_path, random_grid_file, random_vgg16):
    """Others (per-category, fine-tuned, other weights) would fail in measure_engines: a random grid stands in."""
    import dataclasses

    from hypercolumns.classifiers.model_file import load_grid, save_grid
    from hypercolumns.pipelines.bench.bench_engines import plain_grid

    _, path = random_grid_file(tmp_path)
    weights = random_vgg16(0)
    assert plain_grid(path, weights) and not plain_grid(None, weights) and not plain_grid(tmp_path / "none.h5", weights)
    assert not plain_grid(path, random_vgg16(1))
    grid = load_grid(path)
    [coef], [intercept] = grid.coef.values(), grid.intercept.values()
    per_category = dataclasses.replace(grid, categories=["cat", "dog"], coef={"cat": coef, "dog": coef},
                                       intercept={"cat": intercept, "dog": intercept})
    assert not plain_grid(save_grid(per_category, tmp_path / "per-category.h5"), weights)
    fine_tuned = dataclasses.replace(grid, info={**grid.info, "weights_file": "finetuned.pt"})
    assert not plain_grid(save_grid(fine_tuned, tmp_path / "fine-tuned.h5"), weights)


def test_engines_are_timed_in_rounds_and_each_keeps_its_fastest(tmp_path, monkeypatch, random_grid_file, random_vgg16):
    """A burst of load in one round (torch-nchw's first, here 5 s) does not decide which engine is fastest."""
    from hypercolumns.pipelines.bench import bench_engines, bench_features
    from hypercolumns.pipelines.bench.synthetic import synthetic_records

    _, grid = random_grid_file(tmp_path)
    monkeypatch.setattr(engines, "available_engines", lambda device: ["torch", "torch-nchw"])
    scripted = {"torch": [1.0, 1.0], "torch-nchw": [5.0, 0.5]}
    order = []

    def timed(cnn, crops, layers, batch_size):
        order.append(cnn.engine)
        return scripted[cnn.engine].pop(0)

    monkeypatch.setattr(bench_features, "time_bare_forward", timed)
    result = bench_engines.measure_engines(grid, synthetic_records(tmp_path, 1), random_vgg16(0), "cpu", boxes=2)
    assert order == ["torch", "torch-nchw", "torch", "torch-nchw"]     # in turn, not one engine's rounds together
    assert {row["engine"]: row["ms_per_crop"] for row in result["engines"]} == {"torch": 1000.0, "torch-nchw": 500.0}
    assert result["fastest_agreeing"] == "torch-nchw" and result["rounds"] == 2
