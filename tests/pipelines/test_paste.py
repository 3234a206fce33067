"""Pasting a heatmap into its image: hand-computed pixels, boxes past the border."""
import numpy as np
import pytest

from hypercolumns.pipelines.inference.paste import paste_heatmap, paste_heatmaps, paste_window

# every cell names itself: value 100 * row + column
NAMED_CELLS = (100 * np.arange(50)[:, None] + np.arange(50)[None, :]).astype(np.float32)


def test_box_partly_outside_the_image():
    # box x in [-5, 45) (w 50), y in [2.5, 27.5) (h 25) over a 20 x 30 image
    pasted = paste_heatmap(NAMED_CELLS, [-5, 2.5, 45, 27.5], (20, 30))
    assert pasted.dtype == np.float32 and pasted.shape == (20, 30)
    # columns 0..29 are in the box (left of 0 is clipped): cell column floor((c + 5) * 50 / 50)
    # rows: ceil(2.5) = 3 .. 19 (ceil(27.5) = 28 clipped to 20): cell row floor((r - 2.5) * 2)
    rows, cols = np.arange(3, 20), np.arange(30)
    expected = 100 * (2 * rows[:, None] - 5) + (cols[None, :] + 5)
    np.testing.assert_array_equal(pasted[3:], expected)
    np.testing.assert_array_equal(pasted[:3], 0)


def test_small_fractional_box_skips_cells():
    # x in [1.25, 6.25) (w 5): columns 2..6, cells floor((c - 1.25) * 10) = 7, 17, 27, 37, 47
    # y in [0, 5) (h 5): rows 0..4, cells 0, 10, 20, 30, 40
    pasted = paste_heatmap(NAMED_CELLS, [1.25, 0, 6.25, 5], (10, 10))
    expected = np.zeros((10, 10))
    row_cells, col_cells = np.array([0, 10, 20, 30, 40]), np.array([7, 17, 27, 37, 47])
    expected[0:5, 2:7] = 100 * row_cells[:, None] + col_cells
    np.testing.assert_array_equal(pasted, expected)


def test_round_off_at_a_cell_boundary_goes_right():
    # (3 - 1.2) * 10 is 17.999... in floating point; exactly 18 in the rule
    _, _, _, col_cells = paste_window([1.2, 0, 6.2, 5], (10, 10), 50)
    np.testing.assert_array_equal(col_cells, [8, 18, 28, 38, 48])


def test_large_box_maps_each_cell_to_a_block_of_pixels():
    heatmap = np.random.default_rng(0).random((50, 50)).astype(np.float32)
    pasted = paste_heatmap(heatmap, [0, 0, 100, 150], (150, 100, 3))
    np.testing.assert_array_equal(pasted, np.repeat(np.repeat(heatmap, 3, axis=0), 2, axis=1))


def test_box_outside_the_image_pastes_nothing():
    assert not paste_heatmap(NAMED_CELLS + 1, [40, 40, 60, 60], (20, 30)).any()
    assert not paste_heatmap(NAMED_CELLS + 1, [-20, -20, -0.5, 10], (20, 30)).any()


def test_many_boxes():
    heatmaps = np.stack([NAMED_CELLS, NAMED_CELLS + 1])
    boxes = np.array([[-5, 2.5, 45, 27.5], [1.25, 0, 6.25, 5]])
    pasted = paste_heatmaps(heatmaps, boxes, (20, 30))
    assert pasted.shape == (2, 20, 30)
    np.testing.assert_array_equal(pasted[1], paste_heatmap(NAMED_CELLS + 1, boxes[1], (20, 30)))


def test_bad_input():
    with pytest.raises(ValueError, match="empty"):
        paste_heatmap(NAMED_CELLS, [5, 5, 5, 9], (20, 30))
    with pytest.raises(ValueError, match="square"):
        paste_heatmap(NAMED_CELLS[:10], [0, 0, 5, 5], (20, 30))
    with pytest.raises(ValueError, match="same N"):
        paste_heatmaps(NAMED_CELLS[None], np.zeros((2, 4)), (20, 30))
