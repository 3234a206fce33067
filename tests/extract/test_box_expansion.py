"""Context padding around a box, and the small-box context rule, against hand-computed boxes."""
import numpy as np
import pytest

from hypercolumns.extract.box_expansion import SmallBoxContext, expand_boxes


def test_the_paper_padding_puts_the_box_in_the_central_192_px():
    # 224 / (224 - 32) = 7/6: a 120 px side becomes 140 about its centre (60, 60)
    np.testing.assert_allclose(expand_boxes(np.array([[0, 0, 120, 120]])), [[-10, -10, 130, 130]])


def test_boxes_under_the_threshold_get_the_small_context_and_the_others_keep_theirs():
    small = SmallBoxContext(below=64, padding=48)   # 224 / (224 - 96) = 1.75
    boxes = np.array([[0, 0, 32, 32],      # side 32 < 64: half 16 -> 28 about (16, 16)
                      [10, 10, 30, 210],   # sqrt(20 * 200) = 63.2 < 64, though 200 px tall
                      [0, 0, 64, 64]])     # side 64: not under, 7/6 -> half 37.33 about (32, 32)
    expanded = expand_boxes(boxes, 224, 16, small)
    np.testing.assert_allclose(expanded[0], [-12, -12, 44, 44])
    np.testing.assert_allclose(expanded[1], [20 - 17.5, 110 - 175, 20 + 17.5, 110 + 175])
    np.testing.assert_allclose(expanded[2], [32 - 112 / 3, 32 - 112 / 3, 32 + 112 / 3, 32 + 112 / 3])
    np.testing.assert_allclose(expand_boxes(boxes, 224, 16, SmallBoxContext()), expand_boxes(boxes))


def test_the_rule_reads_back_from_its_recorded_text_and_refuses_other_text():
    assert SmallBoxContext.parse("none") == SmallBoxContext()
    rule = SmallBoxContext.parse("below=64,padding=48")
    assert (rule.below, rule.padding) == (64, 48) and SmallBoxContext.parse(str(rule)) == rule
    assert str(SmallBoxContext()) == "none"
    for text in ("below=64", "below=64,padding=48,x=1", "below=a,padding=4", "below=6.5,padding=4",
                 "below=-1,padding=4"):
        with pytest.raises(ValueError, match="small-box context"):
            SmallBoxContext.parse(text)
