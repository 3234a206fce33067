"""make bench's inference section on real val images with a random network and grid: the conv trick agrees
with the explicit hypercolumns, and segment on many images counts every box of every image it segments."""
import pytest

from hypercolumns.data.datasets import load_val_records
from hypercolumns.pipelines.bench.bench_inference import measure_inference, measure_many_images
from hypercolumns.pipelines.inference.segment import Segmenter
from hypercolumns.pipelines.inference.superpixels import SuperpixelSettings


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory, random_grid_file):
    weights_path, model_path = random_grid_file(tmp_path_factory.mktemp("bench-inference"))
    return Segmenter(model_path, weights_path, SuperpixelSettings("none"), batch_size=4, device="cpu")


def test_conv_trick_and_explicit_hypercolumns_give_the_same_heatmaps(segmenter, data_root):
    records = load_val_records(data_root)
    result = measure_inference(segmenter, records, boxes=3)   # on the image with the most instances
    assert result["image"] == max(records, key=lambda r: len(r.instances)).image_id
    assert result["boxes"] == 3 and result["max_abs_difference"] < 1e-4
    assert result["conv_trick_ms_per_box"] > 0 and result["explicit_ms_per_box"] > 0


def test_many_images_time_every_ground_truth_box_both_ways(segmenter, data_root, monkeypatch):
    records = [r for r in load_val_records(data_root) if r.instances][:3]
    streamed = []
    segment_many = segmenter.segment_many

    def counting(items, **kwargs):
        for tag, image, result in segment_many(items, **kwargs):
            streamed.append((tag, len(result.masks)))
            yield tag, image, result

    monkeypatch.setattr(segmenter, "segment_many", counting)
    result = measure_many_images(segmenter, records, batch_size=4)
    assert streamed == 2 * [(r.image_id, len(r.instances)) for r in records]   # two runs, in turn with the other way
    assert result["boxes"] == sum(len(r.instances) for r in records) and result["images"] == 3
    assert result["segment_many_rate_vs_forward"] == pytest.approx(
        result["bare_forward_ms_per_box"] / result["segment_many_ms_per_box"])


def test_bench_runs_on_synthetic_images_without_data_weights_or_shards(tmp_path, monkeypatch):
    """``bench --synthetic N`` (a bare GPU machine): no data root, no cached weights, nothing stored for auto."""
    import json

    from hypercolumns.pipelines.commands.cli import main as cli

    monkeypatch.setenv("HYPERCOLUMNS_CACHE", str(tmp_path / "empty-cache"))
    assert cli(["bench", "--synthetic", "2", "--sections", "inference", "--batch-size", "4",
                "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "bench-synthetic.json").read_text())
    assert report["synthetic_images"] == 2
    assert report["inference"]["many_images"]["boxes"] == 6      # 2 images x 3 instances
    assert report["inference"]["max_abs_difference"] < 1e-4
    assert not (tmp_path / "empty-cache").exists()


def test_synthetic_bench_refuses_the_sections_that_need_real_shards(tmp_path):
    from hypercolumns.data.errors import InputError
    from hypercolumns.pipelines.bench.bench import bench

    with pytest.raises(InputError, match="training section needs the real data"):
        bench(None, None, tmp_path, None, sections="inference,training", synthetic=2)
