"""Evaluation, on data only (no torch): mask IoU and the paper's metrics.

:mod:`masks` (mask IoU; the RLE codec is :mod:`hypercolumns.data.masks`),
:mod:`instances` (what AP^r takes), :mod:`assignment` (the sds and mnc matching
rules), :mod:`average_precision` (AP from ranked flags), :mod:`apr` (AP^r:
match / accumulate / summarize), :mod:`apr_part` (AP^r_part), :mod:`apk` (APK),
:mod:`mean_iu` (semantic segmentation), :mod:`permutation` (paired sign-flip
tests), :mod:`bootstrap` (paired image bootstrap), :mod:`coco` (COCO files in),
:mod:`evaluate` (what ``hypercolumns evaluate`` prints).
"""
