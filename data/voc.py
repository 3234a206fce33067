"""PASCAL VOC 2012 segmentation layout: reader and writer.

Layout under ``root`` (``VOCdevkit/VOC2012``)::

    JPEGImages/<id>.jpg
    SegmentationObject/<id>.png     instance index per pixel, 0 background, 255 void
    SegmentationClass/<id>.png      class index per pixel (1-based VOC_CLASSES), 255 void
    Annotations/<id>.xml            optional here: difficult flags and boxes
    ImageSets/Segmentation/{train,val}.txt

The PNGs are palette ("P" mode) images whose pixel values are the indices;
the palette only colours them. OpenCV cannot read them as indices (even
``IMREAD_UNCHANGED`` expands a palette PNG to BGR), so they are decoded with
Pillow, whose ``np.array`` of a "P" image is the index array. 8-bit grayscale
("L") PNGs are accepted as indices too.

Instance ``k`` is the set of pixels with object index ``k``; its class is the
class index under those pixels. VOC numbers the instances in the order of the
``<object>`` elements of the XML, so object ``k`` of the XML (1-based) gives
instance ``k`` its difficult flag and box. Void is the union of the 255 pixels
of both PNGs (the hand-made ``voc2011-relabeled`` files mark void only in the
class PNG).

The ``voc2011-relabeled`` PNGs were drawn by labelme, which fills each polygon
with Pillow treating vertices as pixel indices and including the outline, each
shape over the earlier ones; its ``coco_annotations.json`` holds the same
polygons, which pycocotools rasterises in the continuous frame, so the two
masks of an instance agree to IoU 0.93-0.996, not exactly (see the tests).
"""
from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hypercolumns.data.errors import InputError, require_file
from hypercolumns.data.images import read_image_size
from hypercolumns.data.records import VOC_CLASSES, ImageRecord, Instance
from hypercolumns.data.splits import read_split

VOID_INDEX = 255


def read_index_png(path) -> np.ndarray:
    """Read a palette (or 8-bit grayscale) PNG as its index array.

    Returns
    -------
    ndarray of shape (H, W), uint8

    Raises
    ------
    MissingFileError
        If the file does not exist.
    InputError
        If it is not a readable PNG, or not a "P" or "L" mode image (e.g. an
        RGB rendering of a mask).
    """
    from PIL import Image, UnidentifiedImageError

    path = require_file(path, "mask PNG")
    try:
        with Image.open(path) as image:
            mode = image.mode
            indices = np.array(image)
    except (UnidentifiedImageError, OSError) as error:
        raise InputError(f"{path}: not a readable PNG ({error})") from error
    if mode not in ("P", "L"):
        raise InputError(
            f"{path}: expected a palette ('P') or 8-bit grayscale ('L') PNG of indices, "
            f"got mode {mode!r}; colour-coded masks must be converted to indices first"
        )
    return indices.astype(np.uint8)


@dataclass
class VocObject:
    """One ``<object>`` of a VOC XML annotation.

    Attributes
    ----------
    category : str
    difficult : bool
    box : ndarray of shape (4,), float64 or None
        ``x0, y0, x1, y1`` in the continuous frame (converted from VOC's
        1-based inclusive ``bndbox``), None when the object has none.
    """

    category: str
    difficult: bool
    box: np.ndarray | None


def read_voc_xml(path) -> list[VocObject]:
    """Read the objects of a VOC XML annotation, in file order."""
    path = require_file(path, "VOC annotation XML")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise InputError(f"{path}: not well-formed XML ({error})") from error
    objects = []
    for number, element in enumerate(root.findall("object"), start=1):
        name = element.findtext("name")
        if not name:
            raise InputError(f"{path}: object {number} has no <name>")
        difficult = element.findtext("difficult", default="0").strip() == "1"
        objects.append(VocObject(name.strip(), difficult, _read_bndbox(element, path, number)))
    return objects


def _read_bndbox(element, path: Path, number: int) -> np.ndarray | None:
    bndbox = element.find("bndbox")
    if bndbox is None:
        return None
    try:
        xmin, ymin, xmax, ymax = (
            float(bndbox.findtext(key)) for key in ("xmin", "ymin", "xmax", "ymax")
        )
    except (TypeError, ValueError) as error:
        raise InputError(f"{path}: object {number} has a malformed <bndbox>") from error
    if not np.isfinite([xmin, ymin, xmax, ymax]).all():  # float() reads "nan" and "inf"
        raise InputError(f"{path}: object {number} has a malformed <bndbox>")
    # 1-based inclusive pixel indices -> continuous edges.
    return np.array([xmin - 1, ymin - 1, xmax, ymax])


def read_voc_record(root, image_id: str) -> ImageRecord:
    """Read one image's instances from the VOC layout.

    Parameters
    ----------
    root : str or Path
        The ``VOC2012`` folder (holding ``JPEGImages/`` etc.).
    image_id : str
        E.g. ``"2008_000652"``.

    Returns
    -------
    ImageRecord
        Instances in object-index order, ``void`` the 255 pixels. With an XML,
        each instance has its object's difficult flag and box; without one,
        ``difficult`` is False and the box is the mask's tight box.

    Raises
    ------
    MissingFileError
        If the image or a PNG is missing.
    InputError
        If a PNG's size differs from the image's, an instance covers no or
        several classes, a class index is not 1..20, or the XML disagrees.
    """
    root = Path(root)
    image_path = root / "JPEGImages" / f"{image_id}.jpg"
    height, width = read_image_size(image_path)
    object_png = root / "SegmentationObject" / f"{image_id}.png"
    class_png = root / "SegmentationClass" / f"{image_id}.png"
    object_indices = _read_sized_png(object_png, height, width)
    class_indices = _read_sized_png(class_png, height, width)
    xml_path = root / "Annotations" / f"{image_id}.xml"
    xml_objects = read_voc_xml(xml_path) if xml_path.is_file() else None

    instances = []
    for index in np.unique(object_indices):
        if index in (0, VOID_INDEX):
            continue
        mask = object_indices == index
        category = _class_under(mask, class_indices, int(index), object_png, class_png)
        instance = Instance(mask=mask, category=category)
        if xml_objects is not None:
            _apply_xml_object(instance, xml_objects, int(index), xml_path)
        instances.append(instance)
    if xml_objects is not None:
        _warn_unsegmented_objects(xml_objects, object_indices, xml_path)
    void = (object_indices == VOID_INDEX) | (class_indices == VOID_INDEX)
    return ImageRecord(image_id, image_path, height, width, instances, void)


def _read_sized_png(path: Path, height: int, width: int) -> np.ndarray:
    indices = read_index_png(path)
    if indices.shape != (height, width):
        raise InputError(
            f"{path}: mask is {indices.shape[1]}x{indices.shape[0]} but its image is "
            f"{width}x{height}"
        )
    return indices


def _class_under(mask, class_indices, index: int, object_png: Path, class_png: Path) -> str:
    labels = np.unique(class_indices[mask])
    labels = labels[labels != VOID_INDEX]
    if labels.size != 1:
        raise InputError(
            f"{object_png}: instance {index} covers class indices {labels.tolist()} in "
            f"{class_png}; expected exactly one"
        )
    label = int(labels[0])
    if not 1 <= label <= len(VOC_CLASSES):
        raise InputError(
            f"{class_png}: instance {index} has class index {label}; VOC classes are "
            f"1..{len(VOC_CLASSES)}"
        )
    return VOC_CLASSES[label - 1]


def _apply_xml_object(instance: Instance, xml_objects, index: int, xml_path: Path) -> None:
    if index > len(xml_objects):
        raise InputError(
            f"{xml_path}: has {len(xml_objects)} objects but the mask has instance {index}"
        )
    xml_object = xml_objects[index - 1]
    if xml_object.category != instance.category:
        raise InputError(
            f"{xml_path}: object {index} is {xml_object.category!r} but its pixels are "
            f"{instance.category!r} in the class PNG"
        )
    instance.difficult = xml_object.difficult
    if xml_object.box is not None:
        instance.box = xml_object.box


def _warn_unsegmented_objects(xml_objects, object_indices, xml_path: Path) -> None:
    present = set(np.unique(object_indices).tolist())
    missing = [k for k in range(1, len(xml_objects) + 1) if k not in present]
    if missing:
        warnings.warn(
            f"{xml_path}: objects {missing} have no pixels in the instance PNG", stacklevel=3
        )


def voc_image_ids(root) -> list[str]:
    """Ids of the images that have an instance PNG, sorted."""
    return sorted(path.stem for path in (Path(root) / "SegmentationObject").glob("*.png"))


def load_voc(root, split: str | None = None) -> list[ImageRecord]:
    """Read the records of a VOC segmentation split.

    Parameters
    ----------
    root : str or Path
        The ``VOC2012`` folder.
    split : str or None
        ``"train"``, ``"val"`` (``ImageSets/Segmentation/<split>.txt``), or None
        for every image with an instance PNG.
    """
    root = Path(root)
    if split is None:
        image_ids = voc_image_ids(root)
    else:
        image_ids = read_split(root / "ImageSets" / "Segmentation" / f"{split}.txt")
    return [read_voc_record(root, image_id) for image_id in image_ids]
