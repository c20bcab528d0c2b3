"""The authors' RandAugment in JAX (gwa_jax.data.randaugment_jax): every op against hand-computed
values on small images, and against TensorFlow ops that apply the authors' formula to uint8
images (the TF Model Garden ops the authors call, rebuilt from tf.image / tf.raw_ops in
``tests/fixtures/tf_reference_ops.py``; their outputs are read from
``tests/fixtures/tf_references.npz``, written by ``make_tf_references.py`` there)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import TFReferences
from gwa_jax.data import randaugment_jax as ra


def _image(h: int = 36, w: int = 36, seed: int = 0) -> np.ndarray:
    """uint8 (h, w, 3): smooth waves plus noise, every level range present."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([127 + 100 * np.sin(0.2 * x + 0.1 * c * y + c) for c in range(3)], -1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def _jax(op, image: np.ndarray, *args) -> np.ndarray:
    out = np.asarray(op(jnp.asarray(image, jnp.float32), *args))
    assert out.dtype == np.float32 and np.array_equal(out, np.round(out))
    assert out.min() >= 0 and out.max() <= 255
    return out.astype(np.uint8)


# --- TensorFlow references: the authors' formulas on uint8 tensors ------------------------------


M1, M10 = ra.op_args(1.0), ra.op_args(10.0)

#: name -> (op, its arguments); the references were computed at the same arguments.
TF_CASES = {
    "invert": (ra.invert, ()),
    "posterize_m1": (ra.posterize, (M1.posterize_bits,)),
    "posterize_m10": (ra.posterize, (M10.posterize_bits,)),
    "solarize_m1": (ra.solarize, (M1.solarize_threshold,)),
    "solarize_m10": (ra.solarize, (M10.solarize_threshold,)),
    "solarize_add": (ra.solarize_add, (M1.solarize_addition,)),
    "color": (ra.color, (M1.enhance,)),
    "contrast": (ra.contrast, (M1.enhance,)),
    "brightness": (ra.brightness, (M10.enhance,)),
    "sharpness": (ra.sharpness, (M1.enhance,)),
    "sharpness_m10": (ra.sharpness, (M10.enhance,)),
    "equalize": (ra.equalize, ()),
    "auto_contrast": (ra.auto_contrast, ()),
    "translate_x": (ra.translate_x, (10.0,)),
    "translate_y": (ra.translate_y, (-10.0,)),
    "translate_x_far": (ra.translate_x, (-100.0,)),
    "shear_x": (ra.shear_x, (0.03,)),
    "shear_y": (ra.shear_y, (-0.3,)),
    "rotate": (ra.rotate, (3.0,)),
    "rotate_m10": (ra.rotate, (-30.0,)),
}

REFS = TFReferences(["randaugment/images", *(f"randaugment/{name}/{kind}" for name in TF_CASES
                                             for kind in ("args", "outputs"))])


def test_tf_references_hold_every_array_this_file_reads():
    REFS.check()


@pytest.mark.parametrize("name", sorted(TF_CASES))
def test_op_matches_the_tensorflow_formula(name):
    op, args = TF_CASES[name]
    assert tuple(REFS[f"randaugment/{name}/args"].tolist()) == args
    images, outputs = REFS["randaugment/images"], REFS[f"randaugment/{name}/outputs"]
    assert images.shape == (3, 36, 36, 3) and outputs.shape == images.shape
    assert images.dtype == outputs.dtype == np.uint8
    for seed, (image, theirs) in enumerate(zip(images, outputs, strict=True)):
        ours = _jax(op, image, *args)
        diff = np.abs(ours.astype(int) - theirs.astype(int))
        # Float sums in another order (grey, conv) may cross an integer: one level, rarely.
        assert diff.max() <= 1 and np.mean(diff == 0) >= 0.995, (name, seed, diff.max())


# --- Hand-computed expectations ----------------------------------------------------------------


def test_op_args_follow_the_authors_level_to_arg():
    assert M1 == ra.OpArgs(enhance=pytest.approx(0.28), rotate_degrees=pytest.approx(3.0),
                           shear=pytest.approx(0.03), translate_pixels=pytest.approx(10.0),
                           posterize_bits=0, solarize_threshold=25, solarize_addition=11,
                           cutout_half=4)
    assert (M10.enhance, M10.rotate_degrees, M10.shear, M10.translate_pixels) == \
        pytest.approx((1.9, 30.0, 0.3, 100.0))
    assert (M10.posterize_bits, M10.solarize_threshold, M10.solarize_addition,
            M10.cutout_half) == (4, 256, 110, 40)


def test_colour_ops_on_a_hand_made_image():
    x = np.array([[[0, 100, 200], [255, 30, 129]]], np.uint8)  # (1, 2, 3)
    # Posterize 0 bits: shift clamped to 7 -> 128 where x >= 128.
    assert _jax(ra.posterize, x, 0).tolist() == [[[0, 0, 128], [128, 0, 128]]]
    assert _jax(ra.posterize, x, 4).tolist() == [[[0, 96, 192], [240, 16, 128]]]
    # Solarize above 25; threshold 256 wraps to 0: all inverted.
    assert _jax(ra.solarize, x, 25).tolist() == [[[0, 155, 55], [0, 225, 126]]]
    assert _jax(ra.solarize, x, 256).tolist() == [[[255, 155, 55], [0, 225, 126]]]
    assert _jax(ra.solarize_add, x, 11).tolist() == [[[11, 111, 200], [255, 41, 129]]]
    assert _jax(ra.invert, x).tolist() == [[[255, 155, 55], [0, 225, 126]]]
    # Brightness 0.28: int(0.28 x).
    assert _jax(ra.brightness, x, 0.28).tolist() == [[[0, 28, 56], [71, 8, 36]]]
    # Contrast: constant int(H W / 256) = 0 here; 0.28 x again.
    assert _jax(ra.contrast, x, 0.28).tolist() == [[[0, 28, 56], [71, 8, 36]]]
    # Color: grey of (0, 100, 200) = int((0.587 * 100 + 0.114 * 200) / 255 * 255.5) = 81.
    grey = int((0.587 * 100 + 0.114 * 200) / 255 * 255.5)
    assert grey == 81
    assert _jax(ra.color, x[:, :1], 0.5).tolist() == [[[int(81 - 40.5), int(81 + 9.5),
                                                         int(81 + 59.5)]]]
    # Auto-contrast per channel: (0, 255) stays, (100, 30) -> (255, 0), (200, 129) -> (255, 0).
    assert _jax(ra.auto_contrast, x).tolist() == [[[0, 255, 255], [255, 0, 0]]]


def test_contrast_blends_towards_the_pixel_count_over_256():
    flat = np.full((36, 36, 3), 100, np.uint8)  # int(1296 / 256) = 5.
    assert np.all(_jax(ra.contrast, flat, 0.28) == int(5 + 0.28 * 95))
    big = np.full((224, 224, 3), 100, np.uint8)  # int(50176 / 256) = 196.
    assert np.all(_jax(ra.contrast, big, 1.9) == int(196 + 1.9 * (100 - 196)))


def test_equalize_by_hand():
    # One channel with levels 10 (x2), 20 (x1), 30 (x1): step = (4 - 1) // 255 = 0 -> unchanged.
    small = np.array([[[10], [10]], [[20], [30]]], np.uint8)
    assert np.array_equal(_jax(ra.equalize, small), small)
    # 512 pixels: 256 at 0, 256 at 255: step = 256 // 255 = 1; lut[0] = 0, lut[255] = 256
    # clipped to 255.
    half = np.concatenate([np.zeros((16, 16, 1)), np.full((16, 16, 1), 255)], 0).astype(np.uint8)
    assert np.array_equal(_jax(ra.equalize, half), half)


def test_sharpness_by_hand():
    x = np.zeros((3, 3, 1), np.uint8)
    x[1, 1] = 130  # Smoothed centre: 5 * 130 / 13 = 50; border kept.
    out = _jax(ra.sharpness, x, 0.5)  # 50 + 0.5 * (130 - 50) = 90.
    expected = np.zeros((3, 3, 1), np.uint8)
    expected[1, 1] = 90
    assert np.array_equal(out, expected)


def test_cutout_fills_a_clipped_square_with_128():
    x = np.zeros((10, 12, 3), np.uint8)
    out = np.asarray(ra.cutout(jnp.asarray(x, jnp.float32), jnp.asarray([1, 10]), 4))
    expected = np.zeros_like(x)
    expected[0:5, 6:12] = 128  # rows [1-4, 1+4), cols [10-4, 10+4) clipped.
    assert np.array_equal(out, expected)


def test_geometric_ops_by_hand():
    x = np.arange(6 * 5, dtype=np.uint8).reshape(6, 5, 1)
    cols = np.arange(5)
    # Translate x by +2: output col j reads col j + 2, reflected: 5 -> 4, 6 -> 3.
    src = np.array([2, 3, 4, 4, 3])
    assert np.array_equal(_jax(ra.translate_x, x, 2.0), x[:, src])
    # Translate y by -2: output row i reads row i - 2: -2 -> 1, -1 -> 0.
    src = np.array([1, 0, 0, 1, 2, 3])
    assert np.array_equal(_jax(ra.translate_y, x, -2.0), x[src])
    # Shear x by 0.3: row y reads col x + 0.3 y, reflected about 4.5, clamped, then rounded.
    out = _jax(ra.shear_x, x, 0.3)
    for y in range(6):
        c = cols + 0.3 * y
        c = np.clip(np.where(c > 4, 9 - c, c), 0, 4)
        c = np.floor(c + 0.5).astype(int)
        assert np.array_equal(out[y, :, 0], x[y, c, 0]), y
    # Rotating by 180 degrees about the centre flips both axes.
    assert np.array_equal(_jax(ra.rotate, x, 180.0), x[::-1, ::-1])


# --- RandAugment --------------------------------------------------------------------------------


def test_draws_are_uniform_over_17_branches_with_fair_signs():
    keys = jax.random.split(jax.random.key(0), 20000)
    draws = jax.vmap(lambda k: ra.draw_layers(k, 2, 36, 36))(keys)
    counts = np.bincount(np.asarray(draws.ops).ravel(), minlength=ra.NUM_BRANCHES)
    assert len(counts) == 17 and counts.min() > 0
    expected = 40000 / 17
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    assert abs(np.mean(np.asarray(draws.positive)) - 0.5) < 0.01
    centers = np.asarray(draws.centers)
    assert centers.min() == 0 and centers.max() == 35


def test_each_branch_applies_its_op_with_the_drawn_sign():
    image = jnp.asarray(_image(36, 36, 3), jnp.float32)
    args = ra.op_args(1.0)
    center = jnp.asarray([5, 7])
    direct = jax.jit(lambda image: {  # Jitted as the branches (same float sums).
        "auto_contrast": ra.auto_contrast(image), "equalize": ra.equalize(image),
        "invert": ra.invert(image), "rotate": ra.rotate(image, -3.0),
        "posterize": ra.posterize(image, 0), "solarize": ra.solarize(image, 25),
        "color": ra.color(image, args.enhance), "contrast": ra.contrast(image, args.enhance),
        "brightness": ra.brightness(image, args.enhance),
        "sharpness": ra.sharpness(image, args.enhance), "shear_x": ra.shear_x(image, -0.03),
        "shear_y": ra.shear_y(image, -0.03), "translate_x": ra.translate_x(image, -10.0),
        "translate_y": ra.translate_y(image, -10.0), "cutout": ra.cutout(image, center, 4),
        "solarize_add": ra.solarize_add(image, 11),
    })(image)
    apply = jax.jit(lambda op: ra.apply_op(image, op, jnp.asarray(False), center, args))
    for i, name in enumerate(ra.OPS):
        diff = np.abs(np.asarray(apply(i)) - np.asarray(direct[name]))
        # The convolution's float sums may run in another order inside the switch.
        assert diff.max() <= (1 if name == "sharpness" else 0), name
        assert np.mean(diff == 0) > 0.995, name
    assert np.array_equal(apply(ra.IDENTITY), image)
    positive = ra.apply_op(image, 12, jnp.asarray(True), center, args)
    assert np.array_equal(positive, ra.translate_x(image, 10.0))


def test_randaugment_is_a_pure_function_of_the_key_and_vmaps():
    images = jnp.asarray(np.stack([_image(36, 36, s) for s in range(4)]), jnp.float32)
    keys = jax.random.split(jax.random.key(1), 4)
    fn = jax.jit(jax.vmap(lambda x, k: ra.randaugment(x, k, 2, 1.0)))
    a, b = np.asarray(fn(images, keys)), np.asarray(fn(images, keys))
    assert np.array_equal(a, b) and a.shape == images.shape
    one = np.asarray(ra.randaugment(images[2], keys[2], 2, 1.0))
    assert np.array_equal(one, a[2])
    draws = ra.draw_layers(keys[2], 2, 36, 36)
    assert np.array_equal(np.asarray(ra.apply_layers(images[2], draws, 1.0)), a[2])
