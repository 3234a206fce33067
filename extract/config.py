"""Stage one's config: what made a shard's rows, typed.

Every shard records it in its attributes (:mod:`~hypercolumns.extract.shards`)
and every model file as JSON (``feature_config``); rows, and the models
trained on them, go together only when their configs agree.
:class:`FeatureConfig` is that config, :class:`FeatureSource` how the CNN's
maps of a box were made.

On disk
-------
The keys of :data:`CONFIG_KEYS`, always, and those of :data:`OPTIONAL_KEYS`
(added after shards existed) where they differ from their default: an absent
one reads as its default.  ``config_hash`` is sha256 (first 16 hex digits)
of the canonical JSON (sorted keys) of exactly those keys, so shards and
models made before a key existed keep their hash.  A config read back from a
file carries the hash recorded there (:attr:`FeatureConfig.config_hash`): a
fine-tuned grid keeps its shards' hash with its new weights.

Imports no torch: ``train-grid`` reads configs without loading the network.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from hypercolumns.data.errors import InputError
from hypercolumns.extract.box_expansion import SmallBoxContext
from hypercolumns.extract.layer_spec import Block, LayerSpec

SHARED_SCALE = 224
"""Default shorter side of the resized image of shared features, px."""
SHARED_MARGIN = 0
"""Default mean-coloured px around that image: none, as compare-shared's folds on the training images
chose (2026-12-03; 16 px before, the candidates within noise of each other)."""
RECORDED_MARGIN_BEFORE = 16
"""The margin of a feature source recorded before margins were written into it."""

CONFIG_KEYS = (
    "network", "weights_sha256", "layer_spec", "blocks", "feature_dim", "crop_size",
    "padding", "heatmap_size", "sample_grid", "rows_per_cell", "seed", "targets",
    "boxes_per_instance", "min_iou",
)
# Keys added after shards existed: absent means the default, and a default value is
# left out of the hash, so older shards and models keep their config hash.
OPTIONAL_KEYS = {"feature_source": "per-box", "candidate_source": "none", "flips": False, "engine": "torch",
                 "small_box_context": "none"}
# Of those, the ones a model file's JSON holds only when set, so that older JSON stays as it was.
JSON_WHEN_SET = ("flips", "engine", "small_box_context")


@dataclass(frozen=True)
class FeatureSource:
    """How a box's maps are made: ``per-box`` crops (the paper), or ``shared``.

    ``shared``: one forward per image resized to ``scale`` px (shorter side,
    the longer at most ``max_size``) with ``margin`` mean-coloured px around
    it, each box's maps read by RoIAlign, ``padding_mode`` past the maps (see
    :mod:`~hypercolumns.extract.shared_features`).  The other fields mean
    nothing for ``per-box``.
    """

    mode: str = "per-box"
    scale: float = SHARED_SCALE
    max_size: float = 1000
    margin: int = SHARED_MARGIN
    padding_mode: str = "border"

    @classmethod
    def parse(cls, text: str) -> "FeatureSource":
        """From the recorded form, ``"per-box"`` or ``"shared:scale=224,max_size=1000,..."``."""
        if text == "per-box":
            return cls()
        kind, _, settings = text.partition(":")
        try:
            options = dict(item.split("=", 1) for item in settings.split(",") if item)
            if kind != "shared":
                raise ValueError
            return cls("shared", float(options["scale"]), float(options.get("max_size", 1000)),
                       int(options.get("margin", RECORDED_MARGIN_BEFORE)),
                       options.get("padding_mode", "border"))
        except (ValueError, KeyError):
            raise InputError(f"feature source {text!r}: expected 'per-box' or "
                             "'shared:scale=<px>,max_size=<px>,margin=<px>,padding_mode=<mode>'") from None

    def __str__(self) -> str:
        if self.mode == "per-box":
            return "per-box"
        return (f"shared:scale={self.scale:g},max_size={self.max_size:g},margin={self.margin},"
                f"padding_mode={self.padding_mode}")


@dataclass(frozen=True)
class FeatureConfig:
    """Stage one's config; one field per key of :data:`CONFIG_KEYS` and :data:`OPTIONAL_KEYS`.

    ``blocks`` are the resolved layer spec's blocks as recorded (dicts of
    ``name``, ``n``, ``kind``, ``offset``, ``size``, ``channels``; :attr:`spec`
    is the :class:`LayerSpec`); ``targets`` the label names of the rows.
    ``config_hash``: the hash recorded with the config (None until written).
    """

    network: str
    weights_sha256: str
    layer_spec: str
    blocks: tuple
    feature_dim: int
    crop_size: int
    padding: int
    heatmap_size: int
    sample_grid: int
    rows_per_cell: int
    seed: int
    targets: tuple
    boxes_per_instance: int
    min_iou: float
    feature_source: FeatureSource = FeatureSource()
    candidate_source: str = "none"
    flips: bool = False
    engine: str = "torch"
    small_box_context: SmallBoxContext = SmallBoxContext()
    config_hash: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "blocks", tuple(dict(block) for block in self.blocks))
        object.__setattr__(self, "targets", tuple(self.targets))
        if isinstance(self.small_box_context, str):
            try:
                object.__setattr__(self, "small_box_context", SmallBoxContext.parse(self.small_box_context))
            except ValueError as error:
                raise InputError(str(error)) from None

    @classmethod
    def from_dict(cls, values: dict) -> "FeatureConfig":
        """The config of a file's record (a key of :data:`OPTIONAL_KEYS` absent: its default).

        InputError (without the file's name: the reader adds it) when a key is missing.
        """
        missing = [key for key in CONFIG_KEYS if key not in values]
        if missing:
            raise InputError(f"feature config lacks {', '.join(missing)}; a config has every key "
                             "of extract.config.CONFIG_KEYS")
        return cls(**{key: values[key] for key in CONFIG_KEYS},
                   feature_source=FeatureSource.parse(values.get("feature_source", "per-box")),
                   candidate_source=values.get("candidate_source", "none"),
                   **{key: values.get(key, OPTIONAL_KEYS[key]) for key in JSON_WHEN_SET},
                   config_hash=values.get("config_hash"))

    def to_dict(self) -> dict:
        """Every key, in file order, and the recorded ``config_hash`` if any (a model file's JSON)."""
        values = {key: getattr(self, key) for key in CONFIG_KEYS}
        values.update(blocks=[dict(block) for block in self.blocks], targets=list(self.targets),
                      feature_source=str(self.feature_source), candidate_source=self.candidate_source)
        values.update({key: _recorded_value(getattr(self, key)) for key in JSON_WHEN_SET
                       if _recorded_value(getattr(self, key)) != OPTIONAL_KEYS[key]})
        if self.config_hash is not None:
            values["config_hash"] = self.config_hash
        return values

    def recorded(self) -> dict:
        """The keys a shard records and the hash covers: optional ones only where not default."""
        values = self.to_dict()
        return {key: values[key] for key in CONFIG_KEYS} | {
            key: values[key] for key, default in OPTIONAL_KEYS.items() if values.get(key, default) != default}

    def compute_hash(self) -> str:
        """sha256 (first 16 hex digits) of the canonical JSON of :meth:`recorded`."""
        canonical = json.dumps(self.recorded(), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def differences(self, expected: "FeatureConfig", mine: str = "shard",
                    theirs: str = "current config") -> list[str]:
        """``"key: <mine> has X, <theirs> Y"`` for each key where ``expected`` differs."""
        return key_differences(self.to_dict(), expected.to_dict(), mine, theirs)

    @property
    def spec(self) -> LayerSpec:
        return LayerSpec(tuple(Block(**block) for block in self.blocks))


def _recorded_value(value):
    """How a config value is written: a context rule as its text, anything else as it is."""
    return str(value) if isinstance(value, SmallBoxContext) else value


def key_differences(stored: dict, expected: dict, mine: str = "shard",
                    theirs: str = "current config") -> list[str]:
    """Each key but ``config_hash`` whose value differs between two recorded configs, named."""
    keys = [key for key in dict.fromkeys([*stored, *expected]) if key != "config_hash"]
    return [f"{key}: {mine} has {stored.get(key)!r}, {theirs} {expected.get(key)!r}"
            for key in keys if stored.get(key) != expected.get(key)]
