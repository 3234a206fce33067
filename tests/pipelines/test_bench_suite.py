"""`hypercolumns bench`'s comparison of two runs and its argument checks."""
from __future__ import annotations

import pytest

from hypercolumns.pipelines.bench.bench import compare, machine, parse_sections


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
