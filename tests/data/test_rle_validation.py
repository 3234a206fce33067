"""Every RLE read is checked: run lengths decoded as pycocotools reads them, summing to H*W.

The malformed example of issue 17: ``counts "P1"`` on a 10 x 10 image. 'P' is
chr(48 + 32): payload 0 with the continuation bit 0x20; '1' is chr(48 + 1):
payload 1 shifted by 5 bits = 32, no continuation. One run of 32 pixels where
100 are needed; pycocotools' IoU read it as 0.0, its decode as 0.75 (the
pixels after the 32nd were uninitialised memory).
"""
import json
import re

import numpy as np
import pytest

from hypercolumns.data.coco import load_coco
from hypercolumns.data.errors import InputError
from hypercolumns.data.masks import (checked_rle, decode_rle, encode_rle, run_lengths,
                                     segmentation_to_mask, to_compressed_rle)

MALFORMED = {"size": [10, 10], "counts": "P1"}
SHORT = "RLE run lengths sum to 32, not 10 x 10 = 100 pixels"


def test_compressed_counts_decoded_by_hand():
    assert run_lengths("P1").tolist() == [32]
    # 'T' = 48 + 36: payload 4, continuation; '3': payload 3 << 5 = 96; 4 + 96 = 100
    assert run_lengths("T3").tolist() == [100]
    # runs 2, 3, 1 as read; from the 4th run on the value is the difference to the run two
    # before: 'O' = 48 + 31 = 0b011111, sign bit 0x10 set -> 31 - 32 = -1, run 3 = 3 - 1 = 2;
    # '0' -> 0, run 4 = 1 + 0 = 1.  Total 9 pixels.
    assert run_lengths("231O0").tolist() == [2, 3, 1, 2, 1]
    assert run_lengths(b"231O0").tolist() == [2, 3, 1, 2, 1]
    assert run_lengths([4, 0, 5]).tolist() == [4, 0, 5]
    assert run_lengths("").tolist() == []


def test_hand_decoded_string_is_what_pycocotools_writes():
    # 3 x 3, column-major: 0 0 | 1 1 1 | 0 | 1 1 | 0 -> runs 2, 3, 1, 2, 1 as above
    mask = np.zeros(9, bool)
    mask[[2, 3, 4, 6, 7]] = True
    assert encode_rle(mask.reshape(3, 3, order="F"))["counts"] == "231O0"


@pytest.mark.parametrize("counts, message", [
    ("P1", SHORT),
    ([32], SHORT),
    ([60, 50], "RLE run lengths sum to 110, not 10 x 10 = 100 pixels"),
    ("", "RLE run lengths sum to 0, not 10 x 10 = 100 pixels"),
    ("PP", "RLE counts cannot be decoded: the string ends inside a run length"),
    ("1 2", "RLE counts cannot be decoded: character ' ' at 1 is not one of COCO's '0' to 'o'"),
    ("PPPPPP0", "RLE counts cannot be decoded: a run length of more than 6 characters"),
    # 'O' read first is -1: a negative run, which pycocotools would store as 2**32 - 1
    ("O" + "T3", "RLE run 0 has the negative length -1"),
])
def test_malformed_rles_are_refused_naming_the_entry(counts, message):
    where = "dets.json: detection 3"
    with pytest.raises(InputError) as refused:
        checked_rle({"size": [10, 10], "counts": counts}, 10, 10, where)
    assert str(refused.value) == f"{where}: {message}"


def test_every_reading_path_refuses_the_short_rle():
    where = "dets.json: detection 0"
    # segment's candidates and data/coco.py's annotations go through segmentation_to_mask
    with pytest.raises(InputError, match=f"^{where}: {SHORT}$"):
        segmentation_to_mask(MALFORMED, 10, 10, where)
    # library calls with no file to name raise the same problem as a ValueError
    for read in (decode_rle, to_compressed_rle):
        with pytest.raises(ValueError, match=f"^{SHORT}$"):
            read(MALFORMED)


def test_coco_annotations_with_a_short_rle_are_refused(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({
        "images": [{"id": 4, "file_name": "a.jpg", "width": 10, "height": 10}],
        "annotations": [{"id": 17, "image_id": 4, "category_id": 1, "segmentation": MALFORMED}],
        "categories": [{"id": 1, "name": "cat"}],
    }))
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: annotation 17: {SHORT}$"):
        load_coco(path, tmp_path, check_images=False)


def slow_runs(mask: np.ndarray) -> list:
    """Column-major run lengths, background first: a loop over pixels, not our decoder."""
    runs, value, length = [], False, 0
    for pixel in mask.T.reshape(-1):
        if pixel != value:
            runs.append(length)
            value, length = pixel, 0
        length += 1
    return runs + [length]


@pytest.mark.parametrize("shape", [(1, 1), (1, 23), (23, 1), (7, 9), (64, 48)])
def test_valid_rles_pass_and_decode_to_their_mask(shape):
    rng = np.random.default_rng(sum(shape))
    for mask in (np.zeros(shape, bool), np.ones(shape, bool), rng.random(shape) < 0.5,
                 rng.random(shape) < 0.05):
        compressed = encode_rle(mask)
        assert run_lengths(compressed["counts"]).tolist() == slow_runs(mask)
        for counts in (compressed["counts"], slow_runs(mask)):
            rle = checked_rle({"size": list(shape), "counts": counts}, *shape, "f: entry 0")
            np.testing.assert_array_equal(decode_rle(rle), mask)
