"""The layer spec: which layers make up a hypercolumn, and where each block sits.

A spec is a comma-separated list of blocks, e.g. ``"pool3:3,conv4_3:1,global"``:

- ``<layer>:<n>`` — a convolutional map of the network, each location taking
  the n x n window of units around it (zero outside the map), flattened
  channel-major: feature ``c * n * n + i * n + j`` is channel ``c`` at row
  offset ``i - n//2``, column offset ``j - n//2`` (``torch.nn.functional.unfold``'s
  order, and the order of an n x n conv kernel ``weight[k, c, i, j]``).
  ``<layer>`` alone means n = 1.
- ``global`` — one vector per box repeated at every location: the spatial
  mean and max of the network's last conv layer (conv5_3 / conv5),
  concatenated.  Our stand-in for fc7, whose weights cannot be had here.
- ``fc6`` / ``fc7`` — the fully connected layers, when the weights have them.
- ``xy`` — the location's own coordinates ``((x + 0.5) / 50, (y + 0.5) / 50)``.
  Appended to every spec (the paper's "location" features), unless the spec
  names it already.
- ``inout`` / ``candidate`` — System 1's features of the region candidate
  being refined (the paper's §4.1): ``inout`` is 1 value per location, 1 if
  the candidate mask covers the location's cell centre, else 0; ``candidate``
  is the candidate mask over the expanded box averaged down to 10 x 10 (100
  values, row-major, the same at every location).  Never appended: a spec
  names them like any block, and a model whose spec has them needs one
  candidate mask per box (see :mod:`hypercolumns.extract.candidate_features`).
  They read no network layer: their inputs go in the layer outputs under the
  block's name.

Blocks keep the spec's order in the feature vector; :meth:`LayerSpec.resolve`
gives each block's offset and size for a network.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from hypercolumns.data.errors import InputError

VECTOR_BLOCKS = ("global", "fc6", "fc7")
GLOBAL_SOURCE = {"vgg16": "conv5_3", "alexnet": "conv5"}
# the box grid every map is upsampled to, and heatmaps live on: location = y * 50 + x
HEATMAP_SIZE = 50
CANDIDATE_GRID = 10  # the candidate block's side: 10 x 10 = 100 values
# block name -> its size; the name is also the block's kind and its layer-outputs key
CANDIDATE_BLOCKS = {"inout": 1, "candidate": CANDIDATE_GRID * CANDIDATE_GRID}


@dataclass(frozen=True)
class Block:
    """One block of the hypercolumn.

    Attributes
    ----------
    name : str
        Layer name, ``"global"``, ``"fc7"``, ``"xy"``, ``"inout"`` or ``"candidate"``.
    n : int
        Neighbourhood side (odd; 1 for all but map blocks).
    kind : str
        ``"map"``, ``"vector"``, ``"xy"``, ``"inout"`` or ``"candidate"``.
    offset, size : int
        Where the block's features sit in the hypercolumn (set by ``resolve``).
    channels : int
        Channels of the source layer (``size = channels * n * n`` for maps).
    """

    name: str
    n: int
    kind: str
    offset: int = -1
    size: int = -1
    channels: int = -1


def block_kind(name: str) -> str:
    """The kind of the block called ``name`` (any other name is a network map)."""
    if name in VECTOR_BLOCKS:
        return "vector"
    if name == "xy" or name in CANDIDATE_BLOCKS:
        return name
    return "map"


@dataclass(frozen=True)
class LayerSpec:
    blocks: tuple

    @classmethod
    def parse(cls, text: str) -> "LayerSpec":
        """Parse ``"pool3:3,conv4_3:1,global"``; ``xy`` is appended if absent.

        InputError naming the spec if it is malformed (it is a flag's or a file's text).
        """
        blocks, seen = [], set()
        for item in [part.strip() for part in text.split(",") if part.strip()]:
            name, _, size = item.partition(":")
            try:
                n = int(size) if size else 1
            except ValueError:
                raise InputError(f"layer spec {text!r}: neighbourhood of {name!r} must be an "
                                 f"integer, got {size!r}") from None
            if n < 1 or n % 2 == 0:
                raise InputError(f"layer spec {text!r}: neighbourhood of {name!r} must be odd "
                                 f"and >= 1, got {n}")
            if name in seen:
                raise InputError(f"layer spec {text!r}: {name!r} appears twice")
            seen.add(name)
            kind = block_kind(name)
            if kind != "map" and n != 1:
                raise InputError(f"layer spec {text!r}: {name!r} takes no neighbourhood")
            blocks.append(Block(name, n, kind))
        if not blocks:
            raise InputError(f"layer spec {text!r} names no layer")
        if "xy" not in seen:
            blocks.append(Block("xy", 1, "xy"))
        return cls(tuple(blocks))

    def __str__(self) -> str:
        return ",".join(b.name if b.kind != "map" else f"{b.name}:{b.n}" for b in self.blocks)

    def resolve(self, network) -> "LayerSpec":
        """The same spec with channels, offsets and sizes for ``network``."""
        resolved, offset = [], 0
        for block in self.blocks:
            if block.kind == "xy":
                channels = 2
            elif block.kind in CANDIDATE_BLOCKS:
                channels = CANDIDATE_BLOCKS[block.kind]
            elif block.name == "global":
                channels = 2 * network.channels(GLOBAL_SOURCE[network.name])
            else:
                channels = network.channels(block.name)
            size = channels * block.n * block.n
            resolved.append(Block(block.name, block.n, block.kind, offset, size, channels))
            offset += size
        return LayerSpec(tuple(resolved))

    @property
    def needs_candidates(self) -> bool:
        """Whether the spec has System 1's candidate blocks (``inout``, ``candidate``)."""
        return any(block.kind in CANDIDATE_BLOCKS for block in self.blocks)

    @property
    def dim(self) -> int:
        if any(b.size < 0 for b in self.blocks):
            raise ValueError("layer spec is not resolved against a network")
        return sum(b.size for b in self.blocks)

    def network_layers(self, network_name: str) -> list[str]:
        """The network layers the forward pass must return."""
        layers = []
        for block in self.blocks:
            if block.kind == "map" or block.name in ("fc6", "fc7"):
                layers.append(block.name)
            elif block.name == "global":
                layers.append(GLOBAL_SOURCE[network_name])
        return list(dict.fromkeys(layers))

    def to_json(self) -> str:
        return json.dumps([asdict(b) for b in self.blocks])

    @classmethod
    def from_json(cls, text: str) -> "LayerSpec":
        return cls(tuple(Block(**item) for item in json.loads(text)))
