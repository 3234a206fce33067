"""The paper's top-level parts (Table 4), grouped from PASCAL-Part's fine part names by one table.

Table 4 labels person parts as head / torso / arms / legs; horse, cow, sheep,
cat and dog as head / torso / legs / tail; bird as head / torso / legs /
wings / tail (:data:`PART_GROUPS`, in that order). PASCAL-Part annotates
finer parts; :data:`PART_TABLE` says which fine names make each group. Its
fine names are the full PASCAL-Part vocabulary of these classes (the
dataset's ``part2ind.m``), which covers every part name of the shared
objects of these classes; a name outside it is an error naming the part and the class.

Conventions (the paper does not state them; these are ours):

- **Everything on the head is head**: eyes, ears, eyebrows, nose, mouth,
  hair (person), muzzle and horns (cow, sheep, horse), beak (bird).
- **Hands belong to arms, feet, paws and hooves to legs.**
- **The neck is torso**, for every class. PASCAL-Part draws the neck as its
  own region between head and torso; for horses, cows and birds it is a long
  stretch of the body, which reads as torso rather than head, and one rule
  for all classes keeps the table simple. Moving ``"neck"`` to ``"head"`` is
  a one-word change in :data:`PART_TABLE`.
- **Overlaps**: PASCAL-Part's fine masks overlap: a head polygon lies under
  its eyes and hair, and across groups an arm held in front of the body
  overlaps the torso (up to 8,954 pixels on one shared person; 0 to 9,113
  pixels per object lie in two groups at once). :func:`group_part_masks`
  keeps each group's full union, so groups may overlap; :func:`part_label_map`
  paints the fine parts in annotation order, a later part over an earlier
  one, as PASCAL-Part's own ``mat2map`` does (every shared file lists the
  torso before the limbs and the neck, so an arm in front of it wins).
- **Pixels of the object that no part covers** (the parts cover 72-100 % of
  each shared object of these classes; 72 % is a bird with only its torso
  drawn) are 0 in :func:`part_label_map` by default, the same as
  background: they carry no part label. ``fill="nearest"`` gives each the group of the
  nearest labelled pixel of the object instead (for metrics that need a
  label on every object pixel). An object with no part at all stays 0.
- Part pixels outside the object's mask (PASCAL-Part's tools assert there
  are none, and the shared files have none) are dropped.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from hypercolumns.data.errors import InputError

_HEAD = ("head", "leye", "reye", "lear", "rear")
_CAT_LEGS = ("lfleg", "lfpa", "rfleg", "rfpa", "lbleg", "lbpa", "rbleg", "rbpa")
_COW_LEGS = ("lfuleg", "lflleg", "rfuleg", "rflleg", "lbuleg", "lblleg", "rbuleg", "rblleg")

PART_TABLE = {
    "person": {
        "head": _HEAD + ("lebrow", "rebrow", "nose", "mouth", "hair"),
        "torso": ("torso", "neck"),
        "arms": ("llarm", "luarm", "lhand", "rlarm", "ruarm", "rhand"),
        "legs": ("llleg", "luleg", "lfoot", "rlleg", "ruleg", "rfoot"),
    },
    "horse": {
        "head": _HEAD + ("muzzle",),
        "torso": ("torso", "neck"),
        "legs": _COW_LEGS + ("lfho", "rfho", "lbho", "rbho"),
        "tail": ("tail",),
    },
    "cow": {
        "head": _HEAD + ("muzzle", "lhorn", "rhorn"),
        "torso": ("torso", "neck"),
        "legs": _COW_LEGS,
        "tail": ("tail",),
    },
    "sheep": {
        "head": _HEAD + ("muzzle", "lhorn", "rhorn"),
        "torso": ("torso", "neck"),
        "legs": _COW_LEGS,
        "tail": ("tail",),
    },
    "cat": {
        "head": _HEAD + ("nose",),
        "torso": ("torso", "neck"),
        "legs": _CAT_LEGS,
        "tail": ("tail",),
    },
    "dog": {
        "head": _HEAD + ("nose", "muzzle"),
        "torso": ("torso", "neck"),
        "legs": _CAT_LEGS,
        "tail": ("tail",),
    },
    "bird": {
        "head": ("head", "leye", "reye", "beak"),
        "torso": ("torso", "neck"),
        "legs": ("lleg", "lfoot", "rleg", "rfoot"),
        "wings": ("lwing", "rwing"),
        "tail": ("tail",),
    },
}
"""category -> top-level group -> the PASCAL-Part fine part names it unites (the one table)."""

PART_GROUPS = {category: tuple(groups) for category, groups in PART_TABLE.items()}
"""category -> its top-level part names, in Table 4's order; label ``i + 1`` is group ``i``."""

_GROUP_OF = {
    category: {fine: group for group, fines in groups.items() for fine in fines}
    for category, groups in PART_TABLE.items()
}


def _groups_of(category: str, where: str = "") -> dict:
    if category not in _GROUP_OF:
        prefix = f"{where}: " if where else ""
        raise ValueError(
            f"{prefix}class {category!r} has no top-level parts; "
            f"classes with parts: {sorted(PART_TABLE)}"
        )
    return _GROUP_OF[category]


def group_of(category: str, fine_name: str, where: str = "") -> str:
    """The top-level part of one PASCAL-Part fine part.

    Parameters
    ----------
    category : str
        A key of :data:`PART_TABLE` (``"person"``, ``"horse"``, ...).
    fine_name : str
        PASCAL-Part's part name (``"leye"``, ``"lfuleg"``, ...).
    where : str
        Names the file or object in error messages.

    Raises
    ------
    ValueError
        On a class without top-level parts (the caller picks the classes).
    InputError
        On a part name the class does not have (a file's content, named by ``where``).
    """
    groups = _groups_of(category, where)
    if fine_name not in groups:
        prefix = f"{where}: " if where else ""
        raise InputError(
            f"{prefix}unknown part {fine_name!r} for class {category!r}; "
            f"known: {sorted(groups)}"
        )
    return groups[fine_name]


def group_part_masks(instance, where: str = "") -> dict:
    """The top-level part masks of one object, each the union of its fine masks.

    Parameters
    ----------
    instance : Instance
        With ``category`` in :data:`PART_TABLE` and ``parts`` (fine name ->
        bool ``(H, W)`` mask) as the PASCAL-Part reader gives them.
    where : str
        Names the file or object in error messages.

    Returns
    -------
    dict of str to ndarray of shape (H, W), bool
        Every group of ``PART_GROUPS[instance.category]``, in that order; an
        all-False mask for a group the object has no part of. Within the
        instance mask; groups may overlap (see the module docstring).

    Raises
    ------
    ValueError
        As :func:`group_of`.
    """
    _groups_of(instance.category, where)
    masks = {group: np.zeros(instance.mask.shape, bool) for group in PART_GROUPS[instance.category]}
    for fine_name, fine_mask in instance.parts.items():
        masks[group_of(instance.category, fine_name, where)] |= fine_mask
    for mask in masks.values():
        mask &= instance.mask
    return masks


def part_label_map(instance, fill: str = "none", where: str = "") -> np.ndarray:
    """One object's top-level part label per pixel.

    Parameters
    ----------
    instance : Instance
        As for :func:`group_part_masks`.
    fill : {"none", "nearest"}
        What object pixels that no part covers get: 0 (``"none"``), or the
        label of the nearest labelled pixel of the object (``"nearest"``,
        Euclidean distance between pixel centres).
    where : str
        Names the file or object in error messages.

    Returns
    -------
    ndarray of shape (H, W), int8
        0 outside the object (and, with ``fill="none"``, on its unlabelled
        pixels); ``i + 1`` for ``PART_GROUPS[instance.category][i]``. Where
        fine parts overlap the later one in ``instance.parts`` wins.

    Raises
    ------
    ValueError
        On an unknown ``fill``, and as :func:`group_of`.
    """
    if fill not in ("none", "nearest"):
        raise ValueError(f"fill must be 'none' or 'nearest', got {fill!r}")
    _groups_of(instance.category, where)
    index = {group: number for number, group in enumerate(PART_GROUPS[instance.category], start=1)}
    labels = np.zeros(instance.mask.shape, np.int8)
    for fine_name, fine_mask in instance.parts.items():
        labels[fine_mask] = index[group_of(instance.category, fine_name, where)]
    labels[~instance.mask] = 0
    if fill == "nearest":
        _fill_nearest(labels, instance.mask)
    return labels


def _fill_nearest(labels: np.ndarray, mask: np.ndarray) -> None:
    """Give each unlabelled pixel of ``mask`` the label of its nearest labelled pixel, in place."""
    unlabelled = mask & (labels == 0)
    if not unlabelled.any() or not (labels > 0).any():
        return
    _, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    labels[unlabelled] = labels[rows[unlabelled], cols[unlabelled]]
