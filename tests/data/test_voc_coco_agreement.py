"""voc2011-relabeled holds the same instances as VOC PNGs and as COCO JSON.

The masks agree closely but not exactly. The reason, checked below: labelme
made the PNGs by filling each polygon with Pillow (vertices taken as pixel
indices, outline included), each shape over the earlier ones and void last;
pycocotools fills the same vertices in the continuous frame, without the
outline. So the PNG mask is Pillow's fill minus what later shapes covered.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from hypercolumns.data.coco import load_coco
from hypercolumns.data.voc import load_voc

LABELME_NAMES = {"potted plant": "pottedplant", "tv/monitor": "tvmonitor"}


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.fixture(scope="module")
def both(data_root):
    root = data_root / "voc2011-relabeled"
    from_pngs = {record.image_id: record for record in load_voc(root)}
    json_records = load_coco(root / "coco_annotations.json", root)
    from_json = {record.path.stem: record for record in json_records}
    return from_pngs, from_json


def test_same_images_and_instances_in_the_same_order(both):
    from_pngs, from_json = both
    assert sorted(from_pngs) == sorted(from_json)
    for image_id, record in from_pngs.items():
        json_categories = [
            LABELME_NAMES.get(instance.category, instance.category)
            for instance in from_json[image_id].instances
        ]
        assert [i.category for i in record.instances] == json_categories


def test_masks_agree_to_the_outline(both):
    from_pngs, from_json = both
    overlaps = []
    for image_id, record in from_pngs.items():
        pairs = zip(record.instances, from_json[image_id].instances, strict=True)
        for png_instance, json_instance in pairs:
            overlaps.append(iou(png_instance.mask, json_instance.mask))
    assert len(overlaps) == 12
    # The smallest instance (an 873-pixel bottle) is lowest: the outline is a
    # larger share of a small mask.
    assert min(overlaps) > 0.93
    assert np.mean(overlaps) > 0.97
    assert max(overlaps) < 1.0


def labelme_fill(polygons, height, width):
    """labelme's shape_to_mask: Pillow polygon with outline, vertices as pixel indices."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in polygons:
        draw.polygon([tuple(point) for point in np.reshape(polygon, (-1, 2))], outline=1, fill=1)
    return np.array(canvas, dtype=bool)


def test_pngs_are_labelme_fills_minus_later_shapes(data_root, both):
    from_pngs, _ = both
    root = data_root / "voc2011-relabeled"
    data = json.loads((root / "coco_annotations.json").read_text())
    file_names = {image["id"]: image["file_name"] for image in data["images"]}
    by_image = {}
    for annotation in data["annotations"]:
        image_id = file_names[annotation["image_id"]].split("/")[-1][:-4]
        by_image.setdefault(image_id, []).append(annotation)
    for image_id, record in from_pngs.items():
        masks = [instance.mask for instance in record.instances]
        for k, (annotation, mask) in enumerate(zip(by_image[image_id], masks, strict=True)):
            fill = labelme_fill(annotation["segmentation"], record.height, record.width)
            assert fill.sum() == annotation["area"]  # labelme computed 'area' from this fill
            covered_later = np.logical_or.reduce([record.void, *masks[k + 1:]])
            assert not (fill & ~mask & ~covered_later).any()
            # One vertex pixel rounds differently (2011_000006's sofa).
            assert (mask & ~fill).sum() <= 1
