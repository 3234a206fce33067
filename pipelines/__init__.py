"""The top layer: what runs the trained system, split by role.

- :mod:`.inference`: the engine (a grid and its CNN), Eq. 3, the conv trick,
  pasting, superpixel projection, pictures, and :class:`~.inference.Segmenter`;
- :mod:`.finetune`: the hypercolumn network, its loss, and training it (Hyp+FT);
- :mod:`.system2`: pool expansion, region NMS, region descriptors, semantic pasting,
  the synthetic detector;
- :mod:`.experiments`: the runner (process, then evaluate) and the drivers of every table;
- :mod:`.bench`: every benchmark;
- :mod:`.commands`: every ``hypercolumns`` command's argument parsing, at the edge.
"""
