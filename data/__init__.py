"""Data readers: every format becomes :class:`ImageRecord` s with :class:`Instance` s.

One module per format: :mod:`voc` (VOC 2012 PNGs), :mod:`sbd` (SBD .mat),
:mod:`pascal_part` (PASCAL-Part .mat), :mod:`poselets` (keypoint XML),
:mod:`coco` (COCO JSON), :mod:`yolo` (YOLO-seg text); :mod:`datasets` gives the
standard splits (SBD's SDS splits or the shared data) and :mod:`download` the ``data`` command.

What every stage shares: :mod:`boxes` (xyxy / xywh, box IoU, boxes as masks),
:mod:`masks` (the mask codec: RLE and polygons), :mod:`files` (atomic files,
JSON in and out), :mod:`detections` (detections files), :mod:`images`
(image files, image keys) and :mod:`errors` (:class:`InputError`).
"""
