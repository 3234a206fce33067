"""Every benchmark; each command's module is named after it, :mod:`.report` holds what they share.

- ``hypercolumns bench``: :mod:`.bench`, every figure below in one run, ``--compare`` with an earlier one;
- ``hypercolumns bench-features``: :mod:`.bench_features`, bare CNN forward vs whole stage-one extraction;
- ``hypercolumns bench-shared``: :mod:`.bench_shared`, per-box crops vs one shared whole-image forward;
- ``hypercolumns bench-inference``: :mod:`.bench_inference`, conv trick vs explicit hypercolumns;
- ``hypercolumns bench-finetune``: :mod:`.bench_finetune`, seconds per fine-tuning iteration;
- ``hypercolumns bench-scale``: :mod:`.bench_scale`, the three stages at 1x, 2x, 4x the images: time,
  memory, the SBD projection;
- ``hypercolumns bench-large-image``: :mod:`.bench_large_image`, ``segment`` on a 12 MP photo with 100
  detections: peak memory, time per stage;
- :mod:`.bench_engines`: the CNN's forward on every engine, GFLOP/s and agreement (``bench``'s engines
  section), and each engine's masks on the training images by the outer fold grids (``engines-cv``);
- :mod:`.bench_training`: liblinear rows/s per grid cell, 1 vs 2 processes (``bench``'s training section).
"""
