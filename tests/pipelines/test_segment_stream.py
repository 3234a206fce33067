"""``Segmenter.segment_many``: the masks of one image at a time, with boxes of consecutive images in shared
CNN batches and the masks made on other threads while the CNN runs."""
import threading

import numpy as np
import pytest

from hypercolumns.data.errors import InputError
from hypercolumns.pipelines.inference.segment import Segmenter
from hypercolumns.pipelines.inference.stream import read_ahead
from hypercolumns.pipelines.inference.superpixels import SuperpixelSettings


@pytest.fixture(scope="module")
def model(tmp_path_factory, random_grid_file):
    return random_grid_file(tmp_path_factory.mktemp("stream"))


def images_and_boxes(counts, seed=0):
    """One random image per count with that many random boxes inside it."""
    rng = np.random.default_rng(seed)
    items = []
    for index, count in enumerate(counts):
        height, width = rng.integers(60, 120, 2)
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        x0, y0 = rng.uniform(0, width / 2, count), rng.uniform(0, height / 2, count)
        boxes = np.stack([x0, y0, x0 + rng.uniform(8, width / 2, count), y0 + rng.uniform(8, height / 2, count)], 1)
        items.append((f"image {index}", image, boxes, "__all__", f"key {index}"))
    return items


@pytest.mark.parametrize("method", ["none", "felzenszwalb"])
def test_many_images_give_the_masks_of_one_image_at_a_time_in_their_order(model, method):
    weights_path, model_path = model
    settings = SuperpixelSettings(method)
    streamed = Segmenter(model_path, weights_path, settings, batch_size=3, device="cpu")
    alone = Segmenter(model_path, weights_path, settings, batch_size=3, device="cpu")
    items = images_and_boxes([1, 4, 2, 5, 1])       # batches of 3 cut across the images
    results = list(streamed.segment_many(items, threads=2))
    assert [tag for tag, _, _ in results] == [item[0] for item in items]
    for (tag, image, boxes, categories, key), (_, returned_image, result) in zip(items, results):
        expected = alone.segment(image, boxes, categories, image_key=key)
        assert returned_image is image
        np.testing.assert_allclose(result.heatmaps, expected.heatmaps, atol=1e-5)
        np.testing.assert_array_equal(result.full_masks(), expected.full_masks())
        assert result.rles() == expected.rles()
        np.testing.assert_allclose(result.scores, expected.scores, atol=1e-5)
    non_empty = sum(int(result.full_masks().any(axis=(1, 2)).sum()) for _, _, result in results)
    assert non_empty >= 6   # of 13 masks: the comparison is not of empty masks


def test_boxes_of_consecutive_images_share_one_cnn_batch(model):
    weights_path, model_path = model
    segmenter = Segmenter(model_path, weights_path, SuperpixelSettings("none"), batch_size=4, device="cpu")
    batches = []
    forward = segmenter.cnn.forward
    segmenter.cnn.forward = lambda crops, layers: batches.append(len(crops)) or forward(crops, layers)
    list(segmenter.segment_many(images_and_boxes([1, 1, 2, 3, 1])))
    assert batches == [4, 4]   # 8 boxes of 5 images in two full batches; one image at a time sends 5


def test_the_masks_of_an_image_are_made_while_the_next_batch_runs(model):
    """The first image's masks wait (on another thread) until the second image has gone through the CNN:
    one image at a time, the second forward would never come and the wait would time out."""
    weights_path, model_path = model
    segmenter = Segmenter(model_path, weights_path, SuperpixelSettings("none"), batch_size=1, device="cpu")
    forwards, second_forward, seen = [], threading.Event(), {}
    forward = segmenter.cnn.forward

    def counting_forward(crops, layers):
        forwards.append(threading.current_thread().name)
        if len(forwards) == 2:
            second_forward.set()
        return forward(crops, layers)

    masks_of = segmenter.masks_of

    def waiting_masks_of(image, key, *args):
        if key == "key 0":
            seen["overlapped"] = second_forward.wait(timeout=20)
            seen["thread"] = threading.current_thread().name
        return masks_of(image, key, *args)

    segmenter.cnn.forward, segmenter.masks_of = counting_forward, waiting_masks_of
    results = list(segmenter.segment_many(images_and_boxes([1, 1]), threads=1))
    assert len(results) == 2 and seen["overlapped"]
    assert seen["thread"] != forwards[0]


def test_a_bad_image_raises_its_error_in_its_place_and_stops_the_reading(model):
    weights_path, model_path = model
    segmenter = Segmenter(model_path, weights_path, SuperpixelSettings("none"), device="cpu")
    good = images_and_boxes([2, 2])
    read = []

    def items():
        for index, item in enumerate(good + good):
            read.append(index)
            if index == 2:
                raise InputError("c.png: not an image")
            yield item

    seen = []
    with pytest.raises(InputError, match="c.png: not an image"):
        for tag, _, _ in segmenter.segment_many(items()):
            seen.append(tag)
    assert seen == ["image 0", "image 1"] and read == [0, 1, 2]


def test_read_ahead_keeps_the_order_and_reads_at_most_its_depth_in_front():
    read = []

    def numbers():
        for n in range(10):
            read.append(n)
            yield n

    stream = read_ahead(numbers(), ahead=2)
    assert next(stream) == 0
    threading.Event().wait(0.3)   # the reader fills its slots meanwhile, and stops there
    assert len(read) <= 4         # 0 taken, 2 waiting, 1 held by the blocked reader
    assert list(stream) == list(range(1, 10))


def test_a_consumer_that_stops_early_stops_the_reader():
    """Here the reader, its slot full, waits to put the end of its items: closing must release it too."""
    stream = read_ahead(iter(range(2)), ahead=1)
    assert next(stream) == 0
    threading.Event().wait(0.3)   # 1 fills the one slot; the reader then waits to put the end
    stream.close()
    readers = [t for t in threading.enumerate() if t.name == "read-ahead"]
    for reader in readers:
        reader.join(timeout=5)
    assert not any(reader.is_alive() for reader in readers)


def consume_in_time(stream, seconds=60):
    """What ``stream`` gave and what it raised, consumed on a thread: a stream that never ends fails here."""
    seen, raised = [], []

    def run():
        try:
            for tag, _, _ in stream:
                seen.append(tag)
        except Exception as error:
            raised.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the stream never ended"
    return seen, raised


def test_an_error_of_the_cnn_is_raised_at_once_and_its_batch_is_not_run_again(model):
    """An image whose boxes span two batches, the first of which fails (a GPU out of memory, say)."""
    weights_path, model_path = model
    segmenter = Segmenter(model_path, weights_path, SuperpixelSettings("none"), batch_size=4, device="cpu")
    calls = []

    def failing_forward(crops, layers):
        calls.append(len(crops))
        raise RuntimeError("out of memory")

    segmenter.cnn.forward = failing_forward
    seen, raised = consume_in_time(segmenter.segment_many(images_and_boxes([6, 1])))
    assert seen == [] and [str(e) for e in raised] == ["out of memory"] and calls == [4]


def test_an_error_making_an_images_masks_is_raised_before_the_images_after_it(model):
    weights_path, model_path = model
    segmenter = Segmenter(model_path, weights_path, SuperpixelSettings("none"), batch_size=2, device="cpu")
    masks_of = segmenter.masks_of

    def failing_on_the_second(image, key, *args):
        if key == "key 1":
            raise ValueError("masks failed")
        return masks_of(image, key, *args)

    segmenter.masks_of = failing_on_the_second
    seen, raised = consume_in_time(segmenter.segment_many(images_and_boxes([1, 1, 1, 1]), threads=2))
    assert seen == ["image 0"] and [str(e) for e in raised] == ["masks failed"]


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_the_pinned_crops_give_the_masks_of_one_image_at_a_time(model):
    weights_path, model_path = model
    streamed = Segmenter(model_path, weights_path, SuperpixelSettings("none"), batch_size=3, device="cuda")
    alone = Segmenter(model_path, weights_path, SuperpixelSettings("none"), batch_size=3, device="cuda")
    items = images_and_boxes([1, 4, 2, 5, 1])       # batches gathered from several images' pinned crops
    for (tag, image, boxes, categories, key), (_, _, result) in zip(items, streamed.segment_many(items)):
        expected = alone.segment(image, boxes, categories, image_key=key)
        np.testing.assert_allclose(result.heatmaps, expected.heatmaps, atol=1e-4)
