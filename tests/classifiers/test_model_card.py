"""`hypercolumns info MODEL`: the card read back from a trained grid, against the shards and the train summary."""
import json
import sys
from pathlib import Path

import h5py

from hypercolumns.classifiers.train import TrainOptions, train_grids
from hypercolumns.pipelines.commands.cli import main as cli

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_shards import write_synthetic_shards  # noqa: E402


def test_the_card_names_the_training_data_the_choice_of_C_and_the_features(tmp_path, capsys):
    shards = tmp_path / "shards"
    write_synthetic_shards(shards, n_shards=3, boxes_per_shard=12, boxes_per_image=3)
    summary = train_grids(shards, tmp_path / "models", TrainOptions(Ks=(2,), C_grid=(1e-3, 1e-2), n_jobs=1,
                                                                    show_progress=False), log=lambda *_: None)
    images, boxes = set(), 0
    for shard in sorted(shards.glob("shard-*.h5")):   # read independently of the code under test
        with h5py.File(shard) as f:
            images |= {i.decode() for i in f["boxes/image_id"][:]}
            boxes += f["boxes/box"].shape[0]
    assert cli(["info", str(tmp_path / "models" / "grid-K2.h5"), "--json", str(tmp_path / "card.json")]) == 0
    printed = capsys.readouterr().out
    card = json.loads((tmp_path / "card.json").read_text())
    facts = summary["grids"]["2"]
    assert card["K"] == 2 and card["training_data"]["images"] == len(images) == 12
    assert card["training_data"]["boxes_in_shards"] == boxes == 36 and card["training_data"]["shard_files"] == 3
    assert card["training_data"]["labelled_rows"] == summary["rows"]
    assert card["training"]["C"] == {"__all__": facts["C"]} and card["training"]["C_grid"] == [1e-3, 1e-2]
    assert card["metrics"]["heldout_accuracy"] == facts["heldout_accuracy"]
    assert card["training"]["C_selected_on"].startswith("training images")
    assert card["weights_sha256"] in printed and f"K: 2" in printed and "heldout_accuracy" in printed


def test_info_on_a_file_that_is_no_model_is_refused_naming_it(tmp_path, capsys):
    from refusal import assert_refused

    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    assert_refused(capsys, ["info", tmp_path / "x.h5"], ["x.h5"], [])
