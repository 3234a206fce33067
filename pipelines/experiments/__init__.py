"""Experiments: one runner, and the drivers of the paper's tables built on it.

- :mod:`.runner`: systems segment a set of images (process), then are scored
  (evaluate); :mod:`.oracle`: the oracle boxes; :mod:`.tables`: results tables;
- drivers: :mod:`.eval_sds`, :mod:`.table1`, :mod:`.table2`, :mod:`.keypoints`
  (Table 3), :mod:`.parts` (Table 4), :mod:`.cross_val`, :mod:`.compare_shared`.
"""
