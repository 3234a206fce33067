"""The paper's 13 keypoint columns, and the one table mapping COCO's and poselets' names to them.

The paper's Table 3 reports APK for 13 person keypoints, in this column order
(:data:`PAPER_KEYPOINTS`, labels :data:`PAPER_KEYPOINT_LABELS`)::

    LS LE LW  RS RE RW  LH LK LA  RH RK RA  N

Every reader keeps its data set's own names; :func:`to_paper_keypoints`
renames one instance's keypoints to the paper's, by :data:`KEYPOINT_TABLE`:

============== ===== ================== ==============
paper name     label COCO               poselets
============== ===== ================== ==============
left_shoulder  LS    left_shoulder      L_Shoulder
left_elbow     LE    left_elbow         L_Elbow
left_wrist     LW    left_wrist         L_Wrist
right_shoulder RS    right_shoulder     R_Shoulder
right_elbow    RE    right_elbow        R_Elbow
right_wrist    RW    right_wrist        R_Wrist
left_hip       LH    left_hip           L_Hip
left_knee      LK    left_knee          L_Knee
left_ankle     LA    left_ankle         L_Ankle
right_hip      RH    right_hip          R_Hip
right_knee     RK    right_knee         R_Knee
right_ankle    RA    right_ankle        R_Ankle
nose           N     nose               Nose
============== ===== ================== ==============

**Dropped names.** Names of a source's vocabulary that are not in the table
are dropped, by design (the paper has no column for them): COCO's eyes and
ears (``left_eye``, ``right_eye``, ``left_ear``, ``right_ear``); poselets'
``L_Eye``, ``R_Eye``, ``L_Ear``, ``R_Ear``, ``B_Head``,
``HeadBack``, ``L_Toes``, ``R_Toes``, ``L_Foot``, ``R_Foot``. A name outside
the source's vocabulary (:data:`COCO_KEYPOINTS`, :data:`POSELETS_PERSON_KEYPOINTS`)
is an error: a typo or another data set's file must not vanish silently.

**Left and right are the person's own**, in both sources: a person facing the
camera has the left shoulder on the image's right (larger x). Checked on the
shared files (``tests/data/test_keypoint_names.py``): for every person whose
nose is visible and both eyes are labelled, left eye x > right eye x (COCO
9/9, poselets 6/6); for those frontal persons with both shoulders visible,
left shoulder x > right shoulder x for COCO 9/11 and poselets 5/5; and the
persons seen from the back, one per source (nose and eyes unlabelled, both
shoulders visible), have the left shoulder at the smaller x, as the person's
own left requires.
No source flips, so the table maps left to left.

Coordinates and visibility are passed through unchanged: ``(x, y, visible)``
in the continuous frame of :mod:`hypercolumns.data.records`.
"""
from __future__ import annotations

from hypercolumns.data.errors import InputError

KEYPOINT_TABLE = (
    # (paper name, label, COCO name, poselets name)
    ("left_shoulder", "LS", "left_shoulder", "L_Shoulder"),
    ("left_elbow", "LE", "left_elbow", "L_Elbow"),
    ("left_wrist", "LW", "left_wrist", "L_Wrist"),
    ("right_shoulder", "RS", "right_shoulder", "R_Shoulder"),
    ("right_elbow", "RE", "right_elbow", "R_Elbow"),
    ("right_wrist", "RW", "right_wrist", "R_Wrist"),
    ("left_hip", "LH", "left_hip", "L_Hip"),
    ("left_knee", "LK", "left_knee", "L_Knee"),
    ("left_ankle", "LA", "left_ankle", "L_Ankle"),
    ("right_hip", "RH", "right_hip", "R_Hip"),
    ("right_knee", "RK", "right_knee", "R_Knee"),
    ("right_ankle", "RA", "right_ankle", "R_Ankle"),
    ("nose", "N", "nose", "Nose"),
)
"""The one mapping: paper column, its label in Table 3, and each source's name for it."""

PAPER_KEYPOINTS = tuple(row[0] for row in KEYPOINT_TABLE)
"""The paper's 13 keypoints, in Table 3's column order."""

PAPER_KEYPOINT_LABELS = tuple(row[1] for row in KEYPOINT_TABLE)
"""Table 3's column labels, ``("LS", "LE", ..., "N")``, aligned with :data:`PAPER_KEYPOINTS`."""

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
"""COCO's 17 person keypoints, in the order of its ``categories[].keypoints``."""

POSELETS_PERSON_KEYPOINTS = (
    "B_Head", "HeadBack", "L_Ankle", "L_Ear", "L_Elbow", "L_Eye", "L_Foot",
    "L_Hip", "L_Knee", "L_Shoulder", "L_Toes", "L_Wrist", "Nose",
    "R_Ankle", "R_Ear", "R_Elbow", "R_Eye", "R_Foot", "R_Hip", "R_Knee",
    "R_Shoulder", "R_Toes", "R_Wrist",
)
"""The 23 person keypoint names of the Berkeley/poselets keypoint release (sorted).

The 9 shared files use 17 of them (``B_Head``, ``L/R_Ear``, ``L/R_Eye``,
``Nose``, ``L/R_Shoulder``, ``L/R_Elbow``, ``L/R_Wrist``, ``L/R_Hip``,
``L_Knee``, ``L_Ankle``, ``L_Toes``); the others (``R_Knee``, ``R_Ankle``,
``R_Toes``, ``L/R_Foot``, ``HeadBack``) are those the release's person
files use besides, as public loaders of the release list them.
"""

SOURCES = {
    "coco": (COCO_KEYPOINTS, {row[2]: row[0] for row in KEYPOINT_TABLE}),
    "poselets": (POSELETS_PERSON_KEYPOINTS, {row[3]: row[0] for row in KEYPOINT_TABLE}),
}
"""source -> (its vocabulary, its name -> paper name), both derived from :data:`KEYPOINT_TABLE`."""


def _source(source: str) -> tuple[tuple, dict]:
    if source not in SOURCES:
        raise ValueError(f"keypoint source must be one of {sorted(SOURCES)}, got {source!r}")
    return SOURCES[source]


def to_paper_keypoints(keypoints: dict, source: str, where: str = "") -> dict:
    """Rename one instance's keypoints to the paper's 13, dropping the others.

    Parameters
    ----------
    keypoints : dict of str to (x, y, visible)
        The source's names (:data:`COCO_KEYPOINTS` or
        :data:`POSELETS_PERSON_KEYPOINTS`); values are passed through.
    source : {"coco", "poselets"}
    where : str
        Names the file or record in error messages.

    Returns
    -------
    dict of str to (x, y, visible)
        Keys among :data:`PAPER_KEYPOINTS`, in that order; a keypoint the
        instance lacks is absent (never invented).

    Raises
    ------
    ValueError
        On an unknown ``source`` (an argument of ours).
    InputError
        On names outside the source's vocabulary (a file's content; all of
        them are listed, after ``where``).
    """
    vocabulary, to_paper = _source(source)
    unknown = sorted(set(keypoints) - set(vocabulary))
    if unknown:
        prefix = f"{where}: " if where else ""
        raise InputError(
            f"{prefix}unknown {source} keypoint names {unknown}; known: {list(vocabulary)}"
        )
    renamed = {to_paper[name]: value for name, value in keypoints.items() if name in to_paper}
    return {name: renamed[name] for name in PAPER_KEYPOINTS if name in renamed}


def apply_to_records(records, source: str):
    """Rename the keypoints of every instance of ``records`` in place; returns ``records``.

    Instances without keypoints are left as they are. Not idempotent for
    ``"poselets"`` (the paper's names are not poselets names): call it once,
    right after reading.

    Parameters
    ----------
    records : list of ImageRecord
    source : {"coco", "poselets"}

    Raises
    ------
    ValueError, InputError
        As :func:`to_paper_keypoints`; the message names the image and instance.
    """
    _source(source)
    for record in records:
        for number, instance in enumerate(record.instances):
            if instance.keypoints:
                where = f"{record.path} (image {record.image_id}, instance {number})"
                instance.keypoints = to_paper_keypoints(instance.keypoints, source, where)
    return records
