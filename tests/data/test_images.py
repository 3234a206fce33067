"""Image files read as OpenCV decodes them, a truncated one refused; content keys of images."""
import cv2
import numpy as np
import pytest

from hypercolumns.data.errors import InputError, MissingFileError
from hypercolumns.data.images import image_key, read_image, read_image_size


def test_image_key_follows_the_pixels():
    image = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    assert image_key(image) == image_key(image.copy())
    assert image_key(np.asfortranarray(image)) == image_key(image)  # layout is not content
    changed = image.copy()
    changed[5, 4, 2] ^= 1
    assert image_key(changed) != image_key(image)
    assert image_key(image.reshape(5, 6, 3)) != image_key(image)
    assert image_key(image.view(np.int8)) != image_key(image)


# ------------------------------------------------------------------ truncated files

PHOTO = "coco128-seg/images/train2017/000000000110.jpg"


@pytest.fixture(scope="module")
def photo(data_root):
    """A real photo (BGR) to encode: its rows differ, so a grey missing part would show."""
    return cv2.imread(str(data_root / PHOTO))


def encoded(photo, extension: str, params=()) -> bytes:
    ok, data = cv2.imencode(extension, photo, list(params))
    assert ok
    return data.tobytes()


def opencv_rgb(path):
    """What read_image returned before the truncation check: cv2.imread's pixels, as RGB."""
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION),
                        cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("params", [(), (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)], ids=["baseline", "progressive"])
@pytest.mark.parametrize("kept", [0.5, 0.98])
def test_a_truncated_jpeg_is_refused_naming_it(tmp_path, photo, params, kept):
    whole = encoded(photo, ".jpg", params)
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[:int(kept * len(whole))])
    assert cv2.imread(str(path)) is not None  # OpenCV would read it, the missing part grey
    for read in (read_image, read_image_size):
        with pytest.raises(InputError, match=f"{path}: truncated or corrupt JPEG"):
            read(path)


def test_a_truncated_png_is_refused_naming_it(tmp_path, photo):
    whole = encoded(photo, ".png")
    for name, data in [("half.png", whole[:len(whole) // 2]), ("no-end.png", whole[:-12])]:
        path = tmp_path / name
        path.write_bytes(data)
        for read in (read_image, read_image_size):
            with pytest.raises(InputError, match=f"{path}: truncated PNG"):
                read(path)


@pytest.mark.parametrize("extension, trailer", [(".jpg", b""), (".jpg", b"\x00" * 64 + b"camera"),
                                                (".png", b""), (".png", b"trailing")])
def test_a_whole_file_keeps_opencvs_pixels_even_with_bytes_after_its_end(tmp_path, photo, extension, trailer):
    path = tmp_path / f"photo{extension}"
    path.write_bytes(encoded(photo, extension) + trailer)
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == photo.shape
    np.testing.assert_array_equal(image, opencv_rgb(path))
    assert read_image_size(path) == photo.shape[:2]


def test_a_missing_image_is_a_missing_file(tmp_path):
    for read in (read_image, read_image_size):
        with pytest.raises(MissingFileError, match=f"image not found: {tmp_path / 'nope.jpg'}"):
            read(tmp_path / "nope.jpg")


def test_a_file_that_is_not_an_image_is_refused_naming_it(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not an image")
    for read in (read_image, read_image_size):
        with pytest.raises(InputError, match=f"{path}: not a readable image"):
            read(path)
