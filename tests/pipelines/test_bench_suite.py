"""`hypercolumns bench`'s comparison of two runs and its argument checks; what every bench shares."""
from __future__ import annotations

import importlib.util
import json
import time

import pytest

from hypercolumns.pipelines.bench.bench import compare, machine, parse_sections
from hypercolumns.pipelines.bench.report import timed, write_bench_json


def test_compare_divides_every_number_both_runs_have():
    new = {"machine": {"cpu": "x", "cores": 4}, "inference": {"conv_trick_ms_per_box": 3.0,
                                                             "boxes": 8, "only_new": 1.0}}
    old = {"machine": {"cpu": "y", "cores": 2}, "inference": {"conv_trick_ms_per_box": 2.0,
                                                             "boxes": 8}}
    lines = compare(new, old)
    assert "inference.conv_trick_ms_per_box: 3 / 2 = 1.500" in lines
    assert "machine.cores: 4 / 2 = 2.000" in lines
    assert not any("only_new" in line or "cpu" in line for line in lines)


def test_unknown_section_is_refused_by_name():
    assert parse_sections("inference, shared") == ("inference", "shared")
    with pytest.raises(ValueError, match="'speed'.*extraction"):
        parse_sections("speed")


def test_machine_names_the_cpu_and_the_gpu_when_there_is_one():
    facts = machine()
    assert facts["cpu"] and facts["cores"] >= 1
    assert facts["gpu"] is None or isinstance(facts["gpu"], str)


def test_bench_json_is_written_once_per_name_and_reported_on_one_line(tmp_path, capsys):
    result = {"inference": {"conv_trick_ms_per_box": 2.5, "boxes": 8}, "gpu": None}
    paths = write_bench_json(result, tmp_path / "new", "bench-20240101T000000Z", "bench")
    assert paths == [tmp_path / "new" / "bench-20240101T000000Z.json", tmp_path / "new" / "bench.json"]
    assert [json.loads(path.read_text()) for path in paths] == [result, result]
    assert paths[0].read_text() == json.dumps(result, indent=2)
    assert capsys.readouterr().out == f"wrote {paths[0]}, {paths[1]}\n"
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == sorted(p.name for p in paths)


def test_timed_returns_the_last_result_and_the_mean_over_the_timed_calls():
    calls = []

    def work():
        calls.append(None)
        time.sleep(0.9 if len(calls) == 1 else 0.02)   # a slow first call, as a warm-up is
        return len(calls)

    result, seconds = timed(work, "cpu", repeats=3, warm_up=True)
    assert result == 4 and len(calls) == 4            # one untimed warm-up, three timed
    assert 0.02 <= seconds < 0.2                      # counting the warm-up would give > 0.3
    assert timed(lambda: "once", "cpu")[0] == "once"


def test_every_bench_command_lives_in_the_module_of_its_name():
    import hypercolumns.pipelines.bench as bench_package
    from hypercolumns.pipelines.commands.cli import SUBCOMMANDS

    commands = [name for name in SUBCOMMANDS if name.startswith("bench")]
    assert commands
    for name in commands:
        module = name.replace("-", "_")
        assert importlib.util.find_spec(f"hypercolumns.pipelines.bench.{module}") is not None
        assert f"``hypercolumns {name}``: :mod:`.{module}`" in bench_package.__doc__
