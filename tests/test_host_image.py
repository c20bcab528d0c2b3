"""gwa_jax.data.host_image against TensorFlow's outputs (tests/fixtures/make_tfds_tiny.py wrote
them with gwa_jax.data.augment and TF's decoders): exact equality throughout."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gwa_jax.data import host_image

REFERENCE = Path(__file__).parent / "fixtures" / "host_image_tf_reference.npz"
NAMES = ("rgb", "grey", "444", "progressive", "png")


@pytest.fixture(scope="module")
def ref():
    with np.load(REFERENCE) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", NAMES)
def test_decode_equals_tf(ref, name, channels):
    image = host_image.decode_image(ref[f"encoded_{name}"].tobytes(), channels)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, ref[f"decode{channels}_{name}"])


def test_grey_jpeg_becomes_rgb(ref):
    image = host_image.decode_image(ref["encoded_grey"].tobytes(), 3)
    assert image.shape[2] == 3
    np.testing.assert_array_equal(image[..., 0], image[..., 1])
    np.testing.assert_array_equal(image[..., 0], image[..., 2])


def test_decode_rgba_png_drops_alpha():
    rgba = np.random.default_rng(0).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    np.testing.assert_array_equal(host_image.decode_image(buf.getvalue(), 3), rgba[..., :3])
    with pytest.raises(ValueError):
        host_image.decode_image(buf.getvalue(), 4)


@pytest.mark.parametrize("size", [16, 24])
def test_bilinear_equals_tf(ref, size):
    image = ref["decode3_rgb"]
    for k, window in enumerate(ref["bilinear_windows"]):
        window = tuple(int(v) for v in window)
        out = host_image.resize_bilinear(image, size, window)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, ref[f"bilinear_{size}"][k])
        np.testing.assert_array_equal(
            host_image.resize_bilinear(image.astype(np.float32), size, window), out)


def test_inception_crop_is_window_resize_rounded(ref, monkeypatch):
    image = ref["decode3_rgb"]
    windows = [tuple(int(v) for v in w) for w in ref["bilinear_windows"]]
    for k, window in enumerate(windows):
        monkeypatch.setattr(host_image, "inception_window", lambda h, w, key, win=window: win)
        out = host_image.inception_crop(image, np.array([1, 2], np.uint32), 24)
        assert out.dtype == np.uint8 and out.shape == (24, 24, 3)
        expected = np.clip(np.rint(ref["bilinear_24"][k]), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("size", [16, 32, 80])
@pytest.mark.parametrize("name", NAMES)
def test_resize_center_crop_equals_tf(ref, name, size):
    out = host_image.resize_center_crop(ref[f"decode3_{name}"], size)
    assert out.dtype == np.uint8 and out.shape == (size, size, 3)
    np.testing.assert_array_equal(out, ref[f"center_{name}_{size}"])


def keys(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**32, (n, 2), dtype=np.uint32)


@pytest.mark.parametrize("shape", [(375, 500), (500, 375), (24, 24), (20, 200), (1, 1)])
def test_inception_window_in_range_and_deterministic(shape):
    height, width = shape
    windows = np.array([host_image.inception_window(height, width, k) for k in keys(500)])
    top, left, h, w = windows.T
    assert (top >= 0).all() and (left >= 0).all() and (h >= 1).all() and (w >= 1).all()
    assert (top + h <= height).all() and (left + w <= width).all()
    whole = (h == height) & (w == width)
    area = h * w / (height * width)
    assert (area[~whole] >= 0.05).all()
    # w = rint(h * aspect), aspect in [3/4, 4/3]: w / h is off by at most 0.5 / h.
    slack = 0.5 / h[~whole] + 1e-6
    aspect = w[~whole] / h[~whole]
    assert (aspect >= 0.75 - slack).all() and (aspect <= 4 / 3 + slack).all()
    again = np.array([host_image.inception_window(height, width, k) for k in keys(500)])
    np.testing.assert_array_equal(windows, again)


def test_inception_window_differs_per_key():
    windows = {host_image.inception_window(375, 500, k) for k in keys(200, seed=1)}
    assert len(windows) > 190


def test_inception_window_falls_back_to_whole_image():
    # No crop of a 5 x 400 image has aspect <= 4/3 and 5% of its area (height >= 9 needed).
    assert host_image.inception_window(5, 400, np.array([3, 4], np.uint32)) == (0, 0, 5, 400)


def test_inception_window_distribution_matches_tf(ref):
    """Quantiles of area fraction and aspect ratio over 4000 fixed keys vs TF's 4000 draws.

    Both samples are fixed (deterministic keys), so the test cannot flake; the bound 0.06 is
    about 5 standard errors of a sample quantile at these sizes. TF never lets a smaller
    window touch the bottom or right edge (offsets uniform in [0, side - crop)), nor do we.
    """
    qs = np.linspace(0, 1, 21)
    for i, (height, width) in enumerate(ref["window_shapes"]):
        windows = np.array([host_image.inception_window(int(height), int(width), k)
                            for k in keys(4000, seed=2)], np.float64)
        top, left, h, w = windows.T
        area = np.quantile(h * w / (height * width), qs)
        aspect = np.quantile(w / h, qs)
        np.testing.assert_allclose(area, ref["window_area_quantiles"][i], atol=0.06)
        np.testing.assert_allclose(aspect, ref["window_aspect_quantiles"][i], atol=0.06)
        assert abs(np.mean((h == height) & (w == width)) - ref["window_whole_fraction"][i]) < 0.01
        touch = ((top + h == height) & (h < height)) | ((left + w == width) & (w < width))
        assert touch.mean() == ref["window_touch_fraction"][i] == 0


def test_inception_crop_shape_and_determinism(ref):
    image = ref["decode3_rgb"]
    key = np.array([5, 6], np.uint32)
    out = host_image.inception_crop(image, key, 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, host_image.inception_crop(image, key, 32))
