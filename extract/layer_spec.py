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

Blocks keep the spec's order in the feature vector; :meth:`LayerSpec.resolve`
gives each block's offset and size for a network.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

VECTOR_BLOCKS = ("global", "fc6", "fc7")
GLOBAL_SOURCE = {"vgg16": "conv5_3", "alexnet": "conv5"}


@dataclass(frozen=True)
class Block:
    """One block of the hypercolumn.

    Attributes
    ----------
    name : str
        Layer name, ``"global"``, ``"fc7"`` or ``"xy"``.
    n : int
        Neighbourhood side (odd; 1 for vector blocks and ``xy``).
    kind : str
        ``"map"``, ``"vector"`` or ``"xy"``.
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


@dataclass(frozen=True)
class LayerSpec:
    blocks: tuple

    @classmethod
    def parse(cls, text: str) -> "LayerSpec":
        """Parse ``"pool3:3,conv4_3:1,global"``; ``xy`` is appended if absent."""
        blocks, seen = [], set()
        for item in [part.strip() for part in text.split(",") if part.strip()]:
            name, _, size = item.partition(":")
            try:
                n = int(size) if size else 1
            except ValueError:
                raise ValueError(f"layer spec {text!r}: neighbourhood of {name!r} must be an "
                                 f"integer, got {size!r}") from None
            if n < 1 or n % 2 == 0:
                raise ValueError(f"layer spec {text!r}: neighbourhood of {name!r} must be odd "
                                 f"and >= 1, got {n}")
            if name in seen:
                raise ValueError(f"layer spec {text!r}: {name!r} appears twice")
            seen.add(name)
            kind = "vector" if name in VECTOR_BLOCKS else "xy" if name == "xy" else "map"
            if kind != "map" and n != 1:
                raise ValueError(f"layer spec {text!r}: {name!r} takes no neighbourhood")
            blocks.append(Block(name, n, kind))
        if not blocks:
            raise ValueError(f"layer spec {text!r} names no layer")
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
            elif block.name == "global":
                channels = 2 * network.channels(GLOBAL_SOURCE[network.name])
            else:
                channels = network.channels(block.name)
            size = channels * block.n * block.n
            resolved.append(Block(block.name, block.n, block.kind, offset, size, channels))
            offset += size
        return LayerSpec(tuple(resolved))

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
