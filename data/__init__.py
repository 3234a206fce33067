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
from hypercolumns.data.boxes import box_iou, box_to_mask, boxes_to_masks, xywh_to_xyxy, xyxy_to_xywh
from hypercolumns.data.coco import (
    CocoImage, coco_image_id, keypoints_to_coco, load_coco, read_coco_images,
)
from hypercolumns.data.datasets import (
    COCO_TO_VOC_NAMES, DATASET_KINDS, dataset_kind, load_sbd_split, load_training_records,
    load_val_records, to_voc_names,
)
from hypercolumns.data.detections import (
    Detections, read_coco_detections, read_detections, read_mat_detections, write_mat_detections,
)
from hypercolumns.data.errors import InputError
from hypercolumns.data.files import atomic_file, read_json, write_json_atomic
from hypercolumns.data.images import image_key, read_image, read_image_size
from hypercolumns.data.masks import (
    decode_rle, decode_rles, encode_rle, polygons_to_mask, polygons_to_rle, segmentation_to_mask,
    to_compressed_rle,
)
from hypercolumns.data.pascal_part import (
    load_pascal_part, read_pascal_part_mat, read_pascal_part_record,
)
from hypercolumns.data.poselets import (
    PoseletsAnnotation, attach_poselets_keypoints, poselets_files, read_poselets_xml,
)
from hypercolumns.data.records import VOC_CLASSES, ImageRecord, Instance, mask_to_box
from hypercolumns.data.sbd import (
    load_sbd, read_sbd_class_mat, read_sbd_instance_mat, read_sbd_record,
)
from hypercolumns.data.splits import read_split
from hypercolumns.data.voc import (
    load_voc, read_index_png, read_voc_record, read_voc_xml, voc_palette, write_index_png,
)
from hypercolumns.data.yolo import load_yolo, read_class_names, read_yolo_label_file

from hypercolumns.data.keypoint_names import (
    COCO_KEYPOINTS, KEYPOINT_TABLE, PAPER_KEYPOINT_LABELS, PAPER_KEYPOINTS,
    POSELETS_PERSON_KEYPOINTS, apply_to_records, to_paper_keypoints,
)
from hypercolumns.data.part_groups import (
    PART_GROUPS, PART_TABLE, group_of, group_part_masks, part_label_map,
)
from hypercolumns.data.voc2009_keypoints import (
    KeypointPerson, load_voc2009_keypoints, read_person_file, read_voc_class_list, split_halves,
)

__all__ = [
    "VOC_CLASSES", "ImageRecord", "Instance", "mask_to_box", "read_image", "read_image_size",
    "image_key", "read_split",
    "xywh_to_xyxy", "xyxy_to_xywh", "box_iou", "box_to_mask", "boxes_to_masks",
    "encode_rle", "decode_rle", "decode_rles", "to_compressed_rle", "polygons_to_rle",
    "polygons_to_mask", "segmentation_to_mask",
    "atomic_file", "read_json", "write_json_atomic", "InputError",
    "Detections", "read_detections", "read_coco_detections", "read_mat_detections",
    "write_mat_detections",
    "load_voc", "read_voc_record", "read_voc_xml", "read_index_png", "write_index_png",
    "voc_palette",
    "load_sbd", "read_sbd_record", "read_sbd_instance_mat", "read_sbd_class_mat",
    "load_pascal_part", "read_pascal_part_record", "read_pascal_part_mat",
    "PoseletsAnnotation", "read_poselets_xml", "poselets_files", "attach_poselets_keypoints",
    "CocoImage", "load_coco", "read_coco_images", "coco_image_id", "keypoints_to_coco",
    "load_yolo", "read_class_names", "read_yolo_label_file",
    "COCO_TO_VOC_NAMES", "to_voc_names", "load_training_records", "load_val_records",
    "DATASET_KINDS", "dataset_kind", "load_sbd_split",
    "COCO_KEYPOINTS", "KEYPOINT_TABLE", "PAPER_KEYPOINT_LABELS", "PAPER_KEYPOINTS",
    "POSELETS_PERSON_KEYPOINTS", "apply_to_records", "to_paper_keypoints",
    "PART_GROUPS", "PART_TABLE", "group_of", "group_part_masks", "part_label_map",
    "KeypointPerson", "load_voc2009_keypoints", "read_person_file", "read_voc_class_list",
    "split_halves",
]
