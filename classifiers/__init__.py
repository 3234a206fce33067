"""Stage two and every other learned linear model, over stage one's features.

:mod:`grid` (the K x K grid of liblinear logistic regressions that ``train-grid``
runs) with :mod:`train` (its options and training set), :mod:`rows` (shard rows
by cell), :mod:`standardize`, :mod:`liblinear_fit`, :mod:`grid_model` and
:mod:`model_file` (the grid file); :mod:`bbox_regression` (R-CNN box
regression, ``train-bbox-reg``: :mod:`train_bbox`); :mod:`rescoring` (System 2's
region SVM and its combiner); :mod:`provenance` (whether a model file was made
from these inputs with these options).
"""
