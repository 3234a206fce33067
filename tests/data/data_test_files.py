"""Writers of small files in real data formats, for the data tests.

(A uniquely named module rather than conftest: test folders have no
``__init__.py``, so a plain ``import conftest`` could pick another folder's.)
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

from hypercolumns.data.keypoint_names import KEYPOINT_TABLE
from hypercolumns.data.records import VOC_CLASSES, ImageRecord
from hypercolumns.data.voc import VOID_INDEX
from hypercolumns.data.voc2009_keypoints import _PIXEL_CENTRE_OFFSET, PERSON_DIR


def voc_palette() -> np.ndarray:
    """VOC's colour map (the devkit's ``labelcolormap``).

    Returns
    -------
    ndarray of shape (256, 3), uint8
        RGB colour of each index; index 0 is black, 255 is (224, 224, 192).
    """
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        value, rgb = index, [0, 0, 0]
        for bit in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << bit
            value >>= 3
        palette[index] = rgb
    return palette


def write_index_png(indices: np.ndarray, path) -> Path:
    """Write an index array as a palette PNG with :func:`voc_palette`.

    Parameters
    ----------
    indices : ndarray of shape (H, W), uint8
    path : str or Path
        Written, with its folder created.
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.asarray(indices, dtype=np.uint8), mode="P")
    image.putpalette(voc_palette().ravel().tolist())
    image.save(path)
    return path


def write_jpeg(path: Path, height: int, width: int) -> Path:
    """Write a grey ``height x width`` JPEG (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 128, dtype=np.uint8))
    return path


def write_voc_pngs(record: ImageRecord, root) -> tuple[Path, Path]:
    """Write a record's instance and class PNGs in the VOC layout.

    Instance ``k`` (1-based, record order) gets object index ``k``; where
    instances overlap the later one wins, as in VOC's own PNGs. Void pixels
    get 255 in both PNGs.

    Returns
    -------
    object_png, class_png : Path
        ``root/SegmentationObject/<id>.png`` and ``root/SegmentationClass/<id>.png``.

    """
    shape = (record.height, record.width)
    object_indices = np.zeros(shape, dtype=np.uint8)
    class_indices = np.zeros(shape, dtype=np.uint8)
    for index, instance in enumerate(record.instances, start=1):
        object_indices[instance.mask] = index
        class_indices[instance.mask] = VOC_CLASSES.index(instance.category) + 1
    if record.void is not None:
        object_indices[record.void] = VOID_INDEX
        class_indices[record.void] = VOID_INDEX
    root = Path(root)
    return (
        write_index_png(object_indices, root / "SegmentationObject" / f"{record.image_id}.png"),
        write_index_png(class_indices, root / "SegmentationClass" / f"{record.image_id}.png"),
    )


def write_voc_xml(record: ImageRecord, root) -> Path:
    """Write ``root/Annotations/<id>.xml`` with each instance as an ``<object>``.

    Boxes go back to VOC's 1-based inclusive integers (``xmin = x0 + 1``,
    ``xmax = x1``, rounded).
    """
    annotation = ET.Element("annotation")
    ET.SubElement(annotation, "filename").text = f"{record.image_id}.jpg"
    size = ET.SubElement(annotation, "size")
    for key, value in (("width", record.width), ("height", record.height), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    for instance in record.instances:
        element = ET.SubElement(annotation, "object")
        ET.SubElement(element, "name").text = instance.category
        ET.SubElement(element, "difficult").text = "1" if instance.difficult else "0"
        x0, y0, x1, y1 = (int(round(value)) for value in instance.box)
        bndbox = ET.SubElement(element, "bndbox")
        for key, value in (("xmin", x0 + 1), ("ymin", y0 + 1), ("xmax", x1), ("ymax", y1)):
            ET.SubElement(bndbox, key).text = str(value)
    path = Path(root) / "Annotations" / f"{record.image_id}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(annotation).write(path)
    return path


def write_person_file(root, image_id: str, number: int, keypoints: dict,
                      visible_box=None) -> Path:
    """Write one person file in the release's layout (inverse of :func:`read_person_file`).

    Parameters
    ----------
    root : str or Path
        The release's root; ``annotations/person/`` is created.
    image_id : str
    number : int
        ``<k>`` of the file name.
    keypoints : dict of str to (x, y, visible)
        Paper names, continuous frame (written as poselets names, 1-based).
    visible_box : array-like of shape (4,) or None
        ``x0, y0, x1, y1``, continuous frame.

    Returns
    -------
    Path
        The file written.
    """
    to_poselets = {row[0]: row[3] for row in KEYPOINT_TABLE}
    annotation = ET.Element("annotation")
    ET.SubElement(annotation, "image").text = image_id
    ET.SubElement(annotation, "category").text = "person"
    if visible_box is not None:
        x0, y0, x1, y1 = (float(value) for value in visible_box)
        ET.SubElement(annotation, "visible_bounds", {
            "height": f"{y1 - y0:.2f}", "width": f"{x1 - x0:.2f}",
            "xmin": f"{x0 + _PIXEL_CENTRE_OFFSET:.2f}", "ymin": f"{y0 + _PIXEL_CENTRE_OFFSET:.2f}",
        })
    element = ET.SubElement(annotation, "keypoints")
    for name, (x, y, visible) in keypoints.items():
        ET.SubElement(element, "keypoint", {
            "name": to_poselets[name], "visible": str(int(visible)),
            "x": f"{x + _PIXEL_CENTRE_OFFSET:.2f}", "y": f"{y + _PIXEL_CENTRE_OFFSET:.2f}",
            "z": "0.00",
        })
    path = Path(root) / PERSON_DIR / f"{image_id}_{number}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(annotation).write(path, encoding="utf-8", xml_declaration=True)
    return path
