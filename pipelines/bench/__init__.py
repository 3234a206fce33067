"""Every benchmark of the project; each command's module is named after it.

- ``hypercolumns bench``: :mod:`.bench`, every figure below in one run, to
  ``bench-<UTC time>.json`` and ``bench.json``, with ``--compare`` against an
  earlier run;
- ``hypercolumns bench-features``: :mod:`.bench_features`, the bare CNN
  forward vs the whole stage-one extraction, per crop;
- ``hypercolumns bench-shared``: :mod:`.bench_shared`, per-box crops vs one
  shared whole-image forward: GFLOP, seconds per box, agreement;
- ``hypercolumns bench-inference``: :mod:`.bench_inference`, the conv trick vs
  explicit hypercolumns, per box;
- ``hypercolumns bench-finetune``: :mod:`.bench_finetune`, seconds per
  fine-tuning iteration on the CPU and the GPU;
- :mod:`.bench_training` (the ``training`` section of ``bench``, no command of
  its own): liblinear rows per second per grid cell, 1 vs 2 processes.

:mod:`.report` holds what they share: the common flags, GPU-aware timing, the
device facts a result carries and the one JSON writer.
"""
