"""The per-image picture: written, decodable, drawn where the instances are and only there."""
import cv2
import numpy as np
import pytest

from hypercolumns.pipelines.inference.viz import render_visualization, save_visualization


def scene():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    boxes = np.array([[20.0, 30.0, 60.0, 80.0], [90.0, 40.0, 130.0, 70.0]])
    heatmaps = np.zeros((2, 120, 160), dtype=np.float32)
    masks = np.zeros((2, 120, 160), dtype=bool)
    for index, (x0, y0, x1, y1) in enumerate(boxes.astype(int)):
        heatmaps[index, y0:y1, x0:x1] = 0.3
        heatmaps[index, y0 + 5:y1 - 5, x0 + 5:x1 - 5] = 0.9
        masks[index, y0 + 5:y1 - 5, x0 + 5:x1 - 5] = True
    return image, boxes, heatmaps, masks, ["person 0.93", "dog 0.41"]


def test_writes_a_png_of_the_image_size(tmp_path):
    image, boxes, heatmaps, masks, labels = scene()
    path = save_visualization(image, boxes, heatmaps, masks, labels, tmp_path / "out" / "a.png")
    written = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert written is not None and written.shape == image.shape
    np.testing.assert_array_equal(written[..., ::-1], render_visualization(image, boxes, heatmaps,
                                                                           masks, labels))


def test_draws_on_instances_and_nowhere_else():
    image, boxes, heatmaps, masks, labels = scene()
    picture = render_visualization(image, boxes, heatmaps, masks, labels)
    changed = np.any(picture != image, axis=2)
    assert changed[masks[0]].mean() > 0.95 and changed[masks[1]].mean() > 0.95
    far = np.ones(image.shape[:2], dtype=bool)
    for x0, y0, x1, y1 in boxes.astype(int):
        # the label sits above the box's left corner and may be wider than the box
        far[max(y0 - 16, 0):y1 + 3, max(x0 - 3, 0):max(x1, x0 + 70) + 3] = False
    assert far.sum() > 0.5 * far.size
    assert not changed[far].any()


def test_no_instances_gives_the_image(tmp_path):
    image = scene()[0]
    picture = render_visualization(image, np.zeros((0, 4)), [], [], [])
    np.testing.assert_array_equal(picture, image)


def test_bad_input(tmp_path):
    image, boxes, heatmaps, masks, labels = scene()
    with pytest.raises(ValueError, match="label per box"):
        render_visualization(image, boxes, heatmaps, masks, labels[:1])
    with pytest.raises(ValueError, match="PNG"):
        save_visualization(image, boxes, heatmaps, masks, labels, tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="uint8"):
        render_visualization(image.astype(np.float32), boxes, heatmaps, masks, labels)


def test_masks_mode_fills_each_mask_in_its_colour_and_heatmaps_mode_blends_the_jet_map():
    from hypercolumns.pipelines.inference.viz import PALETTE

    image, boxes, heatmaps, masks, labels = scene()
    inner = np.zeros_like(masks[0])
    inner[45:65, 30:50] = True                     # inside mask 0, away from outline and label
    picture = render_visualization(image, boxes, heatmaps, masks, labels, alpha=0.25, mode="masks")
    expected = np.rint(image[inner] * 0.75 + np.array(PALETTE[0]) * 0.25)
    np.testing.assert_allclose(picture[inner], expected, atol=1)
    box_edge = (79, 40)                          # the box's last row, a column inside it: its line in boxes mode
    assert (picture[box_edge] == image[box_edge]).all()
    boxed = render_visualization(image, boxes, heatmaps, masks, labels, alpha=0.25, mode="boxes")
    assert (boxed[box_edge] == PALETTE[0]).all()
    np.testing.assert_array_equal(boxed[inner], picture[inner])
    heat = render_visualization(image, boxes, heatmaps, masks, labels, alpha=0.5, mode="heatmaps")
    jet = cv2.applyColorMap(np.full((1, 1), round(0.9 * 255), np.uint8), cv2.COLORMAP_JET)[0, 0, ::-1]
    np.testing.assert_allclose(heat[inner], np.rint(image[inner] * 0.55 + jet * 0.45), atol=1)
    with pytest.raises(ValueError, match="viz mode"):
        render_visualization(image, boxes, heatmaps, masks, labels, mode="blur")


def test_a_panel_shows_crop_heatmap_mask_and_ground_truth_side_by_side():
    from hypercolumns.pipelines.inference.viz import render_panel

    image, boxes, heatmaps, masks, _ = scene()
    truth = np.zeros_like(masks[0])
    truth[30:80, 20:60] = True
    panel = render_panel(image, boxes[0], heatmaps[0], masks[0], truth, height=100)
    # box 40x50 px with a tenth around it: 48x60 px of image, scaled to 100 px high -> 80 px wide tiles
    assert panel.shape == (100, 4 * 80 + 3 * 4, 3)
    crop = cv2.resize(image[25:85, 16:64], (80, 100), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(panel[:, :80], crop)
    assert (panel[:, 80:84] == 255).all()                        # the gap
    assert not np.array_equal(panel[:, 168:248], panel[:, 252:332])  # the mask and the ground truth differ
    assert render_panel(image, boxes[0], heatmaps[0], masks[0]).shape[1] == 3 * 80 * 160 // 100 + 2 * 4
