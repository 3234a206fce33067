"""Bad input at the command line: commands beyond ``segment`` and ``evaluate`` (tested beside them)
refuse it in one line, and a bug of ours is never shown as the user's mistake."""
import subprocess
import sys

from refusal import assert_refused


def test_eval_sds_refuses_a_models_folder_without_grids(data_root, tmp_path, capsys):
    (tmp_path / "models").mkdir()
    out = tmp_path / "sds"
    assert_refused(capsys, ["eval-sds", "--data-root", data_root, "--models", tmp_path / "models",
                            "--out", out], [tmp_path / "models"], [out])


def test_eval_sds_refuses_a_garbage_model_before_writing(data_root, tmp_path, capsys):
    garbage = tmp_path / "grid-K2.h5"
    garbage.write_bytes(b"\x89HDF\r\n\x1a\n but cut short")
    out = tmp_path / "sds"
    assert_refused(capsys, ["eval-sds", "--data-root", data_root, "--models", garbage, "--out", out,
                            "--protocol", "fixed"], [garbage], [out])


def test_eval_sds_refuses_a_missing_data_root(tmp_path, capsys):
    garbage = tmp_path / "grid-K2.h5"
    garbage.write_bytes(b"")
    out = tmp_path / "sds"
    assert_refused(capsys, ["eval-sds", "--data-root", tmp_path / "nowhere", "--models", tmp_path,
                            "--out", out], [tmp_path / "nowhere"], [out])


def test_eval_sds_refuses_impossible_folds_and_missing_shards_before_loading_anything(data_root, tmp_path, capsys):
    out = tmp_path / "sds"
    assert_refused(capsys, ["eval-sds", "--data-root", data_root, "--models", tmp_path, "--out", out,
                            "--outer-folds", "1"], ["--outer-folds"], [out])
    (tmp_path / "grid-K2.h5").write_bytes(b"never read: the shards are checked first")
    assert_refused(capsys, ["eval-sds", "--data-root", data_root, "--models", tmp_path, "--out", out,
                            "--shards", tmp_path / "no-shards"], [tmp_path / "no-shards"], [out])


def test_eval_sds_refuses_an_unknown_projection_before_reading_models(data_root, tmp_path, capsys):
    out = tmp_path / "sds"
    assert_refused(capsys, ["eval-sds", "--data-root", data_root, "--models", tmp_path / "nothing-here",
                            "--out", out, "--protocol", "fixed", "--superpixels", "none", "slic-n"],
                   ["--superpixels", "slic-n"], [out])


def test_segment_refuses_an_unknown_projection_before_reading_anything(tmp_path, capsys):
    out = tmp_path / "results.json"
    assert_refused(capsys, ["segment", "--annotations", tmp_path / "a.json", "--image-root", tmp_path,
                            "--detections", tmp_path / "d.json", "--model", tmp_path / "m.h5", "--out", out,
                            "--superpixels", "grabcut-iterx"], ["--superpixels", "grabcut-iterx"], [out])


def test_a_bug_prints_its_traceback(tmp_path):
    """A numpy ValueError raised inside a command (here by a patched evaluation) is not bad input:
    the process shows its traceback and exits 1, not 2."""
    script = (
        "import sys, numpy as np\n"
        "import hypercolumns.eval.evaluate as evaluate\n"
        "def broken(**flags):\n"
        "    return np.ones(3) + np.ones(4)\n"
        "evaluate.report_coco = broken\n"
        "from hypercolumns.pipelines.commands.cli import main\n"
        "sys.exit(main(['evaluate', '--annotations', 'a.json', '--results', 'r.json']))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "ValueError: operands could not be broadcast together" in done.stderr
    assert "hypercolumns evaluate: error" not in done.stderr
