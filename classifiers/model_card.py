"""A grid model's card (``hypercolumns info MODEL``): what it is, what it was trained on, how it was chosen.

The fields torchvision's weight entries carry, read from the model file alone:
the network and its weights' sha256, the layers and the grid, the feature
source and stage one's settings, the training data (shards, images, boxes,
rows), the options and the C chosen with the images it was chosen on, and the
accuracies recorded at training.  A model trained before the training data was
recorded says so instead of guessing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def model_card(path: Path) -> dict:
    """The card of the grid model at ``path`` (InputError for a file that is not one, naming it)."""
    from hypercolumns.classifiers.model_file import load_grid

    model = load_grid(path)
    config, info = model.feature_config, model.info
    options, search = info.get("options", {}), info.get("search", {})
    grids = info.get("grids", {})
    chosen_C = {name: facts.get("C") for name, facts in grids.items()}
    first_C = next(iter(chosen_C.values()), None)       # the search's table is of the C every category shares
    heldout_at_C = search.get("table", {}).get(f"{first_C:g}", {}) if first_C is not None else {}
    return {
        "file": str(path), "K": model.K,
        "categories": [str(c) for c in model.categories],
        "network": config.network, "weights_sha256": config.weights_sha256,
        "layers": str(model.spec), "feature_dim": int(model.spec.dim),
        "feature_source": str(config.feature_source), "crop_size": config.crop_size, "padding": config.padding,
        "heatmap_size": config.heatmap_size, "boxes_per_instance": config.boxes_per_instance,
        "flips": config.flips, "engine": config.engine, "feature_config_hash": config.config_hash,
        "training_data": info.get("training_data", "not recorded (the model was trained before its training data was written into it)"),
        "training": {"solver": info.get("solver"), "category_mode": options.get("category_mode"),
                     "C_grid": options.get("C_grid"), "C": chosen_C, "C_selected_on": search.get("selected_on"),
                     "heldout_images": search.get("heldout_images"), "heldout_rows": search.get("heldout_rows"),
                     "max_rows_per_cell": options.get("max_rows_per_cell"),
                     "images_left_out": len(options.get("exclude_images") or ())},
        "metrics": {"heldout_accuracy": search.get("heldout_accuracy"),
                    "heldout_log_loss": heldout_at_C.get("log_loss"),
                    "train_accuracy": {name: _mean(facts.get("train_accuracy", np.nan))
                                       for name, facts in grids.items()}},
    }


def _mean(values: np.ndarray) -> float | None:
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else None


def format_model_card(card: dict) -> str:
    """The printed card: one ``key: value`` line per field, nested fields indented."""
    lines = []

    def add(key, value, depth=0):
        if isinstance(value, dict):
            lines.append(f"{'  ' * depth}{key}:")
            for sub, item in value.items():
                add(sub, item, depth + 1)
        else:
            if isinstance(value, float):
                value = f"{value:.4g}"
            elif isinstance(value, list) and len(value) > 12:
                value = f"{len(value)}: {', '.join(map(str, value[:12]))}, ..."
            elif isinstance(value, list):
                value = ", ".join(map(str, value))
            lines.append(f"{'  ' * depth}{key}: {value}")

    for key, value in card.items():
        add(key, value)
    return "\n".join(lines)
