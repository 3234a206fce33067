"""Image content keys: equal for equal pixels, different for any change of pixels, shape or dtype."""
import numpy as np

from hypercolumns.data.images import image_key


def test_image_key_follows_the_pixels():
    image = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    assert image_key(image) == image_key(image.copy())
    assert image_key(np.asfortranarray(image)) == image_key(image)  # layout is not content
    changed = image.copy()
    changed[5, 4, 2] ^= 1
    assert image_key(changed) != image_key(image)
    assert image_key(image.reshape(5, 6, 3)) != image_key(image)
    assert image_key(image.view(np.int8)) != image_key(image)
