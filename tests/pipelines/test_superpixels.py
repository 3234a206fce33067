"""Superpixel projection with dilution, the per-pixel path, and superpixel computation."""
import numpy as np
import pytest

from hypercolumns.pipelines.inference.paste import paste_heatmap
from hypercolumns.pipelines.inference.superpixels import (SuperpixelCache, SuperpixelSettings,
                                                compute_superpixels, heatmaps_to_masks,
                                                project_to_superpixels, superpixel_values,
                                                threshold_pixels)

# 4 x 6 image, three superpixels: 0 = left 4 x 2, 1 = middle 4 x 2, 2 = right 4 x 2
LABELS = np.repeat(np.array([[0, 0, 1, 1, 2, 2]]), 4, axis=0)


def test_values_are_sums_over_whole_areas():
    # a box over columns 0..2 pasted 0.9 on sp 0, 0.9 on half of sp 1 (diluted to 0.45),
    # sp 2 untouched; a second level of 0.7 on one pixel of sp 0
    pasted = np.zeros((4, 6))
    pasted[:, 0:3] = 0.9
    pasted[0, 0] = 0.7
    values = superpixel_values(LABELS, pasted)
    np.testing.assert_allclose(values, [(7 * 0.9 + 0.7) / 8, 4 * 0.9 / 8, 0.0])
    mask = project_to_superpixels(LABELS, pasted)
    np.testing.assert_array_equal(mask, LABELS <= 1)  # 0.45 >= 0.4 keeps the diluted one
    np.testing.assert_array_equal(project_to_superpixels(LABELS, pasted, threshold=0.5),
                                  LABELS == 0)


def test_threshold_is_inclusive():
    pasted = np.zeros((4, 6))
    pasted[:, 2] = 0.8  # half of sp 1 at 0.8: value exactly 0.4
    assert superpixel_values(LABELS, pasted)[1] == 0.4
    np.testing.assert_array_equal(project_to_superpixels(LABELS, pasted), LABELS == 1)
    np.testing.assert_array_equal(threshold_pixels(pasted), pasted >= 0.4)


def test_superpixel_half_outside_the_box_is_diluted():
    # a uniform heatmap of 0.6 pasted into a box covering columns 0..2 (of 6)
    heatmap = np.full((50, 50), 0.6, dtype=np.float32)
    pasted = paste_heatmap(heatmap, [0, 0, 3, 4], (4, 6))
    values = superpixel_values(LABELS, pasted)
    np.testing.assert_allclose(values, [0.6, 0.3, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(project_to_superpixels(LABELS, pasted), LABELS == 0)
    # per pixel, the box's third column stays in
    np.testing.assert_array_equal(threshold_pixels(pasted), LABELS * 0 + (np.arange(6) < 3))


def test_many_boxes_equal_paste_then_project():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 30, size=(40, 60)).astype(np.int32)
    labels[0, :30] = np.arange(30)  # every label present
    heatmaps = rng.random((3, 50, 50)).astype(np.float32)
    boxes = np.array([[-10, 5, 30, 50], [10.3, 2.7, 58.1, 33.9], [50, 30, 80, 60]])
    for grid_labels in (labels, None):
        masks = heatmaps_to_masks(heatmaps, boxes, (40, 60, 3), labels=grid_labels)
        assert len(masks) == 3
        for mask, heatmap, box in zip(masks, heatmaps, boxes):
            pasted = paste_heatmap(heatmap, box, (40, 60))
            expected = (threshold_pixels(pasted) if grid_labels is None
                        else project_to_superpixels(grid_labels, pasted))
            assert mask.mask.dtype == bool and mask.full().shape == (40, 60)
            np.testing.assert_array_equal(mask.full(), expected)


def test_masks_are_held_in_their_windows():
    """Blocky superpixels: a mask's window is its superpixels' bounding box, not the image."""
    labels = (np.arange(100)[:, None] // 10 * 10 + np.arange(120)[None, :] // 12).astype(np.int32)
    heatmaps = np.ones((2, 50, 50), np.float32)
    boxes = np.array([[24.0, 20.0, 48.0, 40.0], [0.5, 0.5, 11.5, 9.5]])
    per_superpixel, per_pixel = (heatmaps_to_masks(heatmaps, boxes, (100, 120), labels=grid)
                                 for grid in (labels, None))
    # box 0 covers superpixel columns 2..3 and rows 2..3 exactly
    assert (per_superpixel[0].top, per_superpixel[0].left, per_superpixel[0].mask.shape) == (20, 24, (20, 24))
    assert per_superpixel[0].mask.all()
    # box 1 covers 11 x 9 of the 12 x 10 superpixel 0: diluted to 0.825 >= 0.4, the whole of it
    assert (per_superpixel[1].top, per_superpixel[1].left, per_superpixel[1].mask.shape) == (0, 0, (10, 12))
    # per pixel: the paste window, pixels 1..11 x 1..9
    assert (per_pixel[1].top, per_pixel[1].left, per_pixel[1].mask.shape) == (1, 1, (9, 11))
    empty = heatmaps_to_masks(np.zeros((1, 50, 50), np.float32), boxes[:1], (100, 120), labels=labels)[0]
    assert empty.mask.size == 0 and not empty.full().any()


def test_paste_into_a_window_equals_the_crop_of_the_whole_paste():
    rng = np.random.default_rng(1)
    heatmap = rng.random((50, 50)).astype(np.float32)
    for box in ([-10, 5, 30, 50], [10.3, 2.7, 58.1, 33.9]):
        whole = paste_heatmap(heatmap, box, (40, 60))
        for rows, cols in ((slice(0, 40), slice(0, 60)), (slice(3, 17), slice(20, 59)),
                           (slice(35, 40), slice(0, 5)), (slice(10, 10), slice(4, 9))):
            np.testing.assert_array_equal(paste_heatmap(heatmap, box, (40, 60), window=(rows, cols)),
                                          whole[rows, cols])


def two_tone_image():
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    image[:, :30] = (200, 30, 30)
    image[:, 30:] = (30, 30, 200)
    return image


@pytest.mark.parametrize("method", ["slic", "felzenszwalb"])
def test_superpixels_respect_a_colour_edge(method):
    settings = SuperpixelSettings(method=method, n_segments=20, min_size=10)
    labels = compute_superpixels(two_tone_image(), settings)
    assert labels.shape == (40, 60) and labels.dtype == np.int32
    assert set(np.unique(labels)) == set(range(labels.max() + 1))
    assert not set(np.unique(labels[:, :30])) & set(np.unique(labels[:, 30:]))


def test_cache_computes_once_per_image(monkeypatch):
    calls = []
    import hypercolumns.pipelines.inference.superpixels as module

    def fake(image, settings):
        calls.append(1)
        return np.zeros(image.shape[:2], dtype=np.int32)

    monkeypatch.setattr(module, "compute_superpixels", fake)
    cache = SuperpixelCache(SuperpixelSettings(method="slic"), capacity=1)
    first = cache.labels("a", two_tone_image())
    assert cache.labels("a", two_tone_image()) is first and len(calls) == 1
    cache.labels("b", two_tone_image())
    cache.labels("a", two_tone_image())
    assert len(calls) == 3  # capacity 1: "a" was dropped for "b"
    assert SuperpixelCache(SuperpixelSettings()).labels("a", two_tone_image()) is None


def test_bad_settings_and_input():
    with pytest.raises(ValueError, match="mcg"):
        SuperpixelSettings(method="mcg")
    with pytest.raises(ValueError, match="same"):
        superpixel_values(LABELS, np.zeros((4, 5)))
    with pytest.raises(ValueError, match="per-pixel"):
        compute_superpixels(two_tone_image(), SuperpixelSettings())


def disc_scene(size=120, radius=28, seed=0):
    """A red disc on grey noise, its true mask, and a loose heatmap: 0.6 over a square that overshoots
    the disc on every side, 0.95 at its centre."""
    rng = np.random.default_rng(seed)
    image = rng.integers(90, 140, (size, size, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= radius ** 2
    image[disc] = (200, 30, 30)
    box = np.array([size / 2 - 45, size / 2 - 45, size / 2 + 45, size / 2 + 45])   # the expanded box
    cells = (np.arange(50) + 0.5) / 50 * 90 + box[0]
    cy, cx = np.meshgrid(cells, cells, indexing="ij")
    heatmap = np.where((abs(cy - size / 2) <= 38) & (abs(cx - size / 2) <= 38), 0.6, 0.02)
    heatmap[(cy - size / 2) ** 2 + (cx - size / 2) ** 2 <= 10 ** 2] = 0.95
    return image, disc, box, heatmap.astype(np.float32)


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_grabcut_recovers_a_colour_edge_the_heatmap_overshoots():
    from hypercolumns.pipelines.inference.superpixels import grabcut_masks, projection_settings

    image, disc, box, heatmap = disc_scene()
    per_pixel = heatmaps_to_masks(heatmap[None], box[None], image.shape)[0].full()
    [cut] = grabcut_masks(image, heatmap[None], box[None], projection_settings("grabcut"))
    assert iou(per_pixel, disc) < 0.5                  # the loose square: about 0.44
    assert iou(cut.full(), disc) > 0.95
    [again] = grabcut_masks(image, heatmap[None], box[None], projection_settings("grabcut"))
    np.testing.assert_array_equal(again.full(), cut.full())      # seeded: the same mask every run


def test_grabcut_downscales_a_large_window_and_stays_inside_the_box():
    from hypercolumns.pipelines.inference.superpixels import grabcut_masks

    image, disc, box, heatmap = disc_scene(size=480, radius=112)
    big_box = (box - 240) * 4 + 240        # the same scene at 4x: a 360 px box, windows over max_side
    cells = (np.arange(50) + 0.5) / 50 * 360 + big_box[0]
    cy, cx = np.meshgrid(cells, cells, indexing="ij")
    heatmap = np.where((abs(cy - 240) <= 152) & (abs(cx - 240) <= 152), 0.6, 0.02).astype(np.float32)
    heatmap[(cy - 240) ** 2 + (cx - 240) ** 2 <= 40 ** 2] = 0.95
    settings = SuperpixelSettings(method="grabcut", max_side=80)
    [cut] = grabcut_masks(image, heatmap[None], big_box[None], settings)
    assert iou(cut.full(), disc) > 0.9
    # a box cutting the disc: nothing of the mask outside the box, whatever the colours say
    half = np.array([240.0, 60.0, 420.0, 420.0])
    [cut] = grabcut_masks(image, np.full((1, 50, 50), 0.6, np.float32), half[None], settings)
    assert cut.full().any() and not cut.full()[:, :240].any()


def test_grabcut_without_seeds_of_both_kinds_keeps_the_per_pixel_mask():
    from hypercolumns.pipelines.inference.superpixels import grabcut_masks

    image, _, box, _ = disc_scene()
    settings = SuperpixelSettings(method="grabcut")
    for level in (0.1, 0.95):   # nothing above the threshold; all sure foreground inside the box
        heatmap = np.full((1, 50, 50), level, np.float32)
        [cut] = grabcut_masks(image, heatmap, box[None], settings)
        expected = heatmaps_to_masks(heatmap, box[None], image.shape)[0].full()
        # 0.95: every seed is sure (foreground inside the box, background outside), which GrabCut keeps
        np.testing.assert_array_equal(cut.full(), expected)


def test_the_cache_dispatches_each_projection_to_its_masks():
    from hypercolumns.pipelines.inference.superpixels import grabcut_masks, projection_settings

    image, _, box, heatmap = disc_scene()
    assert projection_settings("grabcut-iter5").iterations == 5
    cut = SuperpixelCache(projection_settings("grabcut")).masks("a", image, heatmap[None], box[None])
    np.testing.assert_array_equal(cut[0].full(), grabcut_masks(image, heatmap[None], box[None],
                                                               projection_settings("grabcut"))[0].full())
    plain = SuperpixelCache(projection_settings("none")).masks("a", image, heatmap[None], box[None])
    np.testing.assert_array_equal(plain[0].full(), heatmaps_to_masks(heatmap[None], box[None], image.shape)[0].full())
