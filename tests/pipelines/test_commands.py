"""The command line's edge: every command's --help, the shared flags, what each command hands its
library function, and ``evaluate`` without torch."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hypercolumns.data.masks import encode_rle
from hypercolumns.pipelines.commands.cli import SUBCOMMANDS, main as cli
from hypercolumns.pipelines.commands.flags import command_parser


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_command_describes_its_flags(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli([name, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: hypercolumns {name} [-h]")


def test_shared_flags_take_their_declaration_a_default_or_overrides():
    parser = command_parser("x", "first line\nmore", data_root=True, out=Path("results/x"),
                            model={"required": True, "help": "the grid"}, seeds=True)
    assert parser.prog == "hypercolumns x" and parser.description == "first line"
    assert vars(parser.parse_args(["--data-root", "d", "--model", "m.h5", "--seeds", "4", "5"])) == {
        "data_root": Path("d"), "out": Path("results/x"), "model": Path("m.h5"), "seeds": [4, 5]}
    assert parser.parse_args(["--data-root", "d", "--model", "m.h5"]).seeds == [0, 1, 2]
    for incomplete in (["--model", "m.h5"], ["--data-root", "d"]):   # both are required
        with pytest.raises(SystemExit):
            parser.parse_args(incomplete)
    assert vars(command_parser("y", "doc", model=True).parse_args([])) == {
        "model": Path("work/models/grid-K10.h5")}


def record_calls(monkeypatch, module, function: str, result=None) -> list:
    """Replace ``module.function`` by one that records its keywords (positionals by index)."""
    calls = []

    def recorder(*args, **kwargs):
        calls.append({**dict(enumerate(args)), **kwargs})
        return result

    monkeypatch.setattr(module, function, recorder)
    return calls


def test_commands_hand_their_defaults_to_the_library(monkeypatch):
    from hypercolumns.classifiers import train_bbox
    from hypercolumns.pipelines.bench import bench_finetune
    from hypercolumns.pipelines.commands import bench_finetune as bench_finetune_command
    from hypercolumns.pipelines.commands import reproduce_table1, train_bbox_reg
    from hypercolumns.pipelines.experiments import table1

    calls = record_calls(monkeypatch, table1, "reproduce_table1")
    assert reproduce_table1.main(["--data-root", "d", "--seeds", "3"]) == 0
    assert calls == [{"data_root": Path("d"), "shards": Path("work/features"), "models": Path("work/models"),
                      "work": Path("work/table1"), "finetuned": Path("work/finetune"),
                      "out": Path("results/table1"), "seeds": [3], "superpixels": "none",
                      "weights": None, "device": None, "cross_val_folds": 3, "cv_seeds": [0],
                      "replicates": 1000, "cv_work": Path("work/sds-cv"), "projections": None}]
    from hypercolumns.pipelines.commands import reproduce_table2
    from hypercolumns.pipelines.experiments import table2

    calls = record_calls(monkeypatch, table2, "reproduce_table2")
    assert reproduce_table2.main(["--data-root", "d", "--protocol", "plain"]) == 0
    assert calls == [{"data_root": Path("d"), "models": Path("work/models"), "work": Path("work/table2"),
                      "out": Path("results/table2"), "seed": 0, "shards": Path("work/features"),
                      "only_global": Path("work/table1/global/grid-K10.h5"), "pool_threshold": 0.3,
                      "train_images": None, "detections": None, "pre_nms": None, "cv_work": Path("work/sds-cv"),
                      "only_global_folds": Path("work/table1/cross-val/Only_global"), "protocol": "plain",
                      "projections": Path("results/sds/summary.json"),
                      "replicates": 1000}]
    calls = record_calls(monkeypatch, train_bbox, "train_box_regressor")
    train_bbox_reg.main(["--data-root", "d", "--alpha", "10"])
    assert calls == [{"data_root": Path("d"), "shards": Path("work/features"), "out": Path("work/models"),
                      "descriptor": "auto", "alphas": [10.0], "min_iou": 0.6}]
    calls = record_calls(monkeypatch, bench_finetune, "bench_finetune")
    bench_finetune_command.main(["--data-root", "d"])
    assert calls == [{"data_root": Path("d"), "model": Path("work/models/grid-K10.h5"),
                      "out": Path("results/bench"), "batch_size": 8, "iterations": 5}]


def test_option_flags_become_the_options_dataclasses(monkeypatch, capsys):
    from hypercolumns.classifiers import train
    from hypercolumns.pipelines.commands import finetune, segment as segment_command, train_grid
    from hypercolumns.pipelines.finetune import training
    from hypercolumns.pipelines.inference import segment

    calls = record_calls(monkeypatch, train, "train_grids", {"files": ["a.h5"]})
    assert train_grid.main(["--shards", "s", "--out", "o"]) == 0
    assert calls == [{0: Path("s"), 1: Path("o"), 2: train.TrainOptions()}]
    train_grid.main(["--shards", "s", "--out", "o", "--K", "3", "--blocks", "global"])
    assert calls[1][2] == train.TrainOptions(Ks=(3,), blocks=("global",))
    assert capsys.readouterr().out == "wrote a.h5\nwrote a.h5\n"

    calls = record_calls(monkeypatch, training, "run_finetune")
    finetune.main(["--data-root", "d", "--iterations", "7"])
    assert calls == [{"data_root": Path("d"), "model": Path("work/models/grid-K10.h5"),
                      "out": Path("work/finetune"), "device": None,
                      "options": training.FinetuneOptions(iterations=7)}]

    calls = record_calls(monkeypatch, segment, "segment_file")
    required = ["--annotations", "a", "--image-root", "i", "--detections", "d", "--model", "m", "--out", "o"]
    segment_command.main(required)
    segment_command.main([*required, "--superpixels", "felzenszwalb"])
    segment_command.main([*required, "--no-superpixels", "--superpixels", "slic"])
    assert [call["superpixels"] for call in calls] == ["none", "felzenszwalb", "none"]


def test_help_and_evaluate_load_no_torch(tmp_path):
    """``hypercolumns --help`` imports no command; ``evaluate`` runs without torch."""
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    annotations, results = tmp_path / "gt.json", tmp_path / "results.json"
    annotations.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": encode_rle(mask),
                         "iscrowd": 0}],
        "categories": [{"id": 1, "name": "cat"}]}))
    results.write_text(json.dumps([{"image_id": 1, "category_id": 1, "score": 1.0,
                                    "segmentation": encode_rle(mask)}]))
    script = "\n".join([
        "import sys",
        "from hypercolumns.pipelines.commands.cli import main",
        "assert main(['--help']) == 0",
        "print(sorted(m for m in sys.modules if m.startswith('hypercolumns.pipelines.commands.')))",
        f"assert main(['evaluate', '--annotations', {str(annotations)!r},"
        f" '--results', {str(results)!r}]) == 0",
        "print('torch' in sys.modules)"])
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    lines = run.stdout.splitlines()
    assert lines[-1] == "False" and "AP^r@0.5 100.0" in lines
    assert next(line for line in lines if line.startswith("[")) == "['hypercolumns.pipelines.commands.cli']"
