"""The JAX augmentation (``gwa_jax.data.augment_jax``) against the TensorFlow ops it mirrors; their
outputs are read from ``tests/fixtures/tf_references.npz`` (``make_tf_references.py`` there)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import TFReferences
from gwa_jax.data import augment_jax as A

INDEX_TABLE_SIZES = [(28, 28), (32, 32), (24, 30)]
REFS = TFReferences([
    "augment/op_names", "augment/op_levels", "augment/index_table_strengths",
    *(f"augment/index_tables_{h}x{w}" for h, w in INDEX_TABLE_SIZES),
    *(f"augment/op_{kind}_c{c}" for kind in ("images", "outputs") for c in (1, 3)),
    "augment/draw_image", "augment/draw_levels", "augment/draw_candidates",
    *(f"augment/{name}_{kind}" for name in ("resize", "chain") for kind in ("image", "resized_36")),
])

# XLA contracts ``degenerate + factor * (image - degenerate)`` (and the grey sums / the 3x3
# smoothing) into fused multiply-adds, one rounding where TensorFlow's kernels round twice, and
# sums contrast's mean grey level in another order: a few float32 ulps at 255 (~1.5e-5 each),
# under 1e-6 relative. Every other op gives TensorFlow's pixels exactly.
FMA_OPS = {"color", "contrast", "sharpness"}
FMA_TOL = 1e-4
FMA_RTOL = 1e-6

apply_op = jax.jit(A.apply_op)


def test_tf_references_hold_every_array_this_file_reads():
    REFS.check()


def _ops() -> tuple[str, ...]:
    """The op names, in the order of the references' op axis (that of ``A.OPS``)."""
    names = tuple(REFS["augment/op_names"].tolist())
    assert names == A.OPS, (names, A.OPS)
    return names


def _jax_op(op: int, image: np.ndarray, level: float) -> np.ndarray:
    tables = A.geometric_index_tables(image.shape[0], image.shape[1], abs(level))
    index_map = tables[int(level > 0), min(max(op - 1, 0), 4)]
    return np.asarray(apply_op(jnp.int32(op), jnp.asarray(image), jnp.float32(level),
                               jnp.asarray(index_map)))


def _same(op: int, got: np.ndarray, want: np.ndarray) -> bool:
    if A.OPS[op] in FMA_OPS:
        return np.allclose(got, want, rtol=FMA_RTOL, atol=FMA_TOL)
    return np.array_equal(got, want)


@pytest.mark.parametrize("h,w", INDEX_TABLE_SIZES)
def test_geometric_index_tables_equal_tensorflows(h, w):
    strengths = REFS["augment/index_table_strengths"].tolist()
    assert strengths == [0.1, 1.0, 1.5]
    for strength, want in zip(strengths, REFS[f"augment/index_tables_{h}x{w}"], strict=True):
        np.testing.assert_array_equal(A.geometric_index_tables(h, w, strength), want)


@pytest.mark.parametrize("channels", [1, 3])
def test_every_op_matches_tensorflow(channels):
    # Four (16, 20, C) images: integer levels; fractional levels, as after a blend in an earlier
    # layer; a low-contrast image; one fractional level everywhere (equalize's step is 0 and it
    # returns the image unchanged).
    images = REFS[f"augment/op_images_c{channels}"]
    outputs = REFS[f"augment/op_outputs_c{channels}"]  # (image, level, op, H, W, C)
    levels = REFS["augment/op_levels"].tolist()
    ops = _ops()
    assert levels == [-0.1, 0.1, -1.0, 1.0] and images.shape == (4, 16, 20, channels)
    assert outputs.shape == (len(images), len(levels), len(ops), *images.shape[1:])
    for image, per_image in zip(images, outputs, strict=True):
        for level, per_level in zip(levels, per_image, strict=True):
            for op, (name, want) in enumerate(zip(ops, per_level, strict=True)):
                got = _jax_op(op, image, level)
                assert _same(op, got, want), (name, level, np.abs(got - want).max())


def test_randaugment_draws_an_op_and_sign_per_layer_uniformly():
    # Three channels (colour is the identity on one) and a range short of 0-255 (autocontrast
    # would be the identity): every op gives another image.
    image = REFS["augment/draw_image"]
    assert image.shape == (28, 28, 3) and image.min() >= 20 and image.max() < 230
    levels = REFS["augment/draw_levels"].tolist()
    assert levels == [-0.5, 0.5]  # Magnitude 5.
    candidates = {(op, int(np.sign(level))): want
                  for op, per_op in enumerate(REFS["augment/draw_candidates"])
                  for level, want in zip(levels, per_op, strict=True)}
    assert len(candidates) == 2 * len(_ops())
    ra = jax.jit(lambda x, k: A.randaugment(x, k, num_ops=1, magnitude=5))
    counts = np.zeros(len(A.OPS), int)
    signs = []
    for k in jax.random.split(jax.random.key(0), 560):
        out = np.asarray(ra(jnp.asarray(image), k))
        hits = [(op, s) for (op, s), want in candidates.items() if _same(op, out, want)]
        assert hits, "the output is none of the 14 ops at +-0.5"
        assert len({op for op, _ in hits}) == 1, hits
        counts[hits[0][0]] += 1
        signs += [s for _, s in hits]
    # 560 draws over 14 ops: 40 expected each; all ops occur, none more than twice as often.
    assert counts.min() > 15 and counts.max() < 80, counts
    assert 0.4 < np.mean(np.asarray(signs) > 0) < 0.6


def test_pad_crop_and_flip_take_a_window_of_the_padded_image():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (64, 28, 28, 1)).astype(np.uint8)
    ids = jnp.arange(64)
    out = np.asarray(A.augment_batch(images, A.example_keys(jax.random.key(3), 1, ids),
                                     pad_crop=True, flip=True, randaug_num_ops=2,
                                     randaug_magnitude=0))
    assert out.dtype == np.float32 and out.shape == images.shape
    padded = np.pad(images.astype(np.float32), ((0, 0), (4, 4), (4, 4), (0, 0)))
    offsets, flips = set(), []
    for b in range(64):
        found = [(dy, dx, f) for dy in range(9) for dx in range(9) for f in (False, True)
                 if np.array_equal(out[b], (lambda x: x[:, ::-1] if f else x)(
                     padded[b, dy:dy + 28, dx:dx + 28]))]
        assert found, f"example {b} is no flipped or unflipped window"
        offsets.add(found[0][:2])
        flips.append(found[0][2])
    assert len(offsets) > 30 and 0.25 < np.mean(flips) < 0.75


def test_augmentation_is_a_function_of_seed_epoch_and_id():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (16, 28, 28, 1)).astype(np.float32)
    ids = jnp.arange(100, 116)

    def run(perm, epoch, seed=0):
        keys = A.example_keys(jax.random.key(seed), epoch, ids[perm])
        return np.asarray(A.augment_batch(images[perm], keys, pad_crop=True, flip=True,
                                          randaug_num_ops=2, randaug_magnitude=5))

    base = run(np.arange(16), 1)
    perm = rng.permutation(16)
    np.testing.assert_array_equal(run(perm, 1), base[perm])  # Batch position does not matter.
    assert not np.array_equal(run(np.arange(16), 2), base)
    assert not np.array_equal(run(np.arange(16), 1, seed=1), base)
    untouched = A.augment_batch(images, A.example_keys(jax.random.key(0), 1, ids),
                                pad_crop=False, flip=False, randaug_num_ops=2,
                                randaug_magnitude=0)
    np.testing.assert_array_equal(np.asarray(untouched), images)


# --- The authors' chain (resize -> RandAugment -> crop -> flip) ---------------------------------


def test_resize_bilinear_equals_tensorflows():
    image = REFS["augment/resize_image"]  # (32, 32, 3), integer levels.
    ours = np.asarray(jax.jit(A.resize_bilinear, static_argnums=1)(jnp.asarray(image), 36))
    theirs = REFS["augment/resize_resized_36"]  # tf.image.resize, bilinear, no antialiasing.
    assert theirs.shape == (36, 36, 3)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)
    # Truncated to uint8 levels as the authors' get_resize: the same levels almost everywhere.
    assert np.mean(np.floor(ours) == np.floor(theirs)) > 0.999


def _draws(op: int, offset, flip: bool, positive: bool = True) -> A.ChainDraws:
    from gwa_jax.data.randaugment_jax import IDENTITY, LayerDraws
    layers = LayerDraws(jnp.asarray([op, IDENTITY], jnp.int32), jnp.asarray([positive, True]),
                        jnp.zeros((2, 2), jnp.int32))
    return A.ChainDraws(layers, jnp.asarray(offset, jnp.int32), jnp.asarray(flip))


def test_authors_cifar_chain_resizes_then_randaugments_then_crops_then_flips():
    from gwa_jax.data import randaugment_jax as ra
    image = REFS["augment/chain_image"]  # (32, 32, 3), integer levels.
    chain = A.AuthorsChain(num_layers=2, magnitude=1.0, crop="resize_crop", resize_to=36,
                           crop_size=32, flip=True)
    # tf.image.resize (bilinear) to 36 px, truncated to uint8 levels as the authors' get_resize.
    resized = np.floor(np.clip(REFS["augment/chain_resized_36"], 0, 255))
    # TranslateX by +10 px on the 36 px image (reflected), crop at (1, 3), then the flip.
    shifted = np.asarray(ra.translate_x(jnp.asarray(resized), 10.0))
    expected = shifted[1:33, 3:35][:, ::-1]
    out = np.asarray(A.apply_chain(jnp.asarray(image), _draws(12, (1, 3), True), chain))
    assert out.shape == (32, 32, 3)
    assert np.mean(out == expected) > 0.999  # Resize rounding: a level, rarely.
    # Other orders give other images: crop before translate, flip before crop.
    crop_first = np.asarray(ra.translate_x(jnp.asarray(resized[1:33, 3:35]), 10.0))[:, ::-1]
    flip_first = shifted[:, ::-1][1:33, 3:35]
    assert np.mean(out == crop_first) < 0.9 and np.mean(out == flip_first) < 0.9
    # Eval-free path: no RandAugment, no flip -> the crop of the resized image.
    plain = A.AuthorsChain(num_layers=2, magnitude=0.0, crop="resize_crop", resize_to=36,
                           crop_size=32, flip=False)
    out = np.asarray(A.apply_chain(jnp.asarray(image), _draws(12, (4, 0), True), plain))
    assert np.mean(out == resized[4:36, 0:32]) > 0.999


def test_authors_imagenet_chain_flips_after_randaugment():
    from gwa_jax.data import randaugment_jax as ra
    image = jnp.asarray(np.random.default_rng(7).integers(0, 256, (20, 20, 3)), jnp.float32)
    chain = A.AuthorsChain(num_layers=2, magnitude=10.0, crop="none", flip=True)
    out = np.asarray(A.apply_chain(image, _draws(12, (0, 0), True), chain))  # +100 px shift.
    np.testing.assert_array_equal(out, np.asarray(ra.translate_x(image, 100.0))[:, ::-1])


def test_authors_chain_draws_crop_offsets_and_flips_uniformly():
    chain = A.AuthorsChain(num_layers=2, magnitude=1.0, crop="resize_crop", resize_to=36,
                           crop_size=32, flip=True)
    keys = jax.random.split(jax.random.key(3), 4000)
    draws = jax.vmap(lambda k: A.chain_draws(k, chain, 32, 32))(keys)
    offsets = np.asarray(draws.offset)
    assert set(offsets.ravel().tolist()) == {0, 1, 2, 3, 4}
    assert abs(np.mean(np.asarray(draws.flip)) - 0.5) < 0.03
    assert np.asarray(draws.layers.centers).max() == 35  # Cutout centres on the 36 px image.
    images = jnp.asarray(np.random.default_rng(8).integers(0, 256, (8, 32, 32, 3)), jnp.float32)
    out = A.authors_train_chain(images, keys[:8], chain)
    assert out.shape == (8, 32, 32, 3)
    np.testing.assert_array_equal(out[3], A.apply_chain(images[3], A.chain_draws(
        keys[3], chain, 32, 32), chain))


# --- Mixup ---------------------------------------------------------------------------------------


def test_mixup_weight_is_beta_distributed_one_per_batch():
    from scipy import stats
    alpha = 0.2
    mix = jax.jit(lambda k: A.mixup(jnp.zeros((4, 2, 2, 1)), jnp.eye(4), k, alpha))
    lams = np.asarray([mix(k)[2] for k in jax.random.split(jax.random.key(0), 2000)])
    assert stats.kstest(lams, stats.beta(alpha, alpha).cdf).pvalue > 0.01
    assert lams.min() < 0.05 and lams.max() > 0.95 and np.mean(lams < 0.5) > 0.4  # Not folded.


def test_mixup_mixes_images_and_targets_with_one_weight_and_a_permutation():
    b = 16
    images = jnp.arange(b, dtype=jnp.float32)[:, None, None, None] * jnp.ones((b, 2, 2, 3))
    targets = jnp.eye(b)
    key = jax.random.key(4)
    x, y, lam = A.mixup(images, targets, key, 1.0)
    partner = np.asarray(A.mixup_partners(jax.random.split(key)[1], jnp.ones(b, bool)))
    assert sorted(partner.tolist()) == list(range(b))
    lam = float(lam)
    np.testing.assert_allclose(np.asarray(x)[:, 0, 0, 0], lam * np.arange(b)
                               + (1 - lam) * partner, rtol=1e-6)
    want = lam * np.eye(b) + (1 - lam) * np.eye(b)[partner]
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-6, atol=1e-7)


def test_mixup_partners_stay_among_valid_positions():
    mask = np.array([1, 1, 0, 1, 0, 1, 1, 0, 1, 1], bool)
    valid = np.flatnonzero(mask)
    seen = set()
    for i in range(300):
        p = np.asarray(A.mixup_partners(jax.random.key(i), jnp.asarray(mask)))
        assert sorted(p[valid].tolist()) == valid.tolist()  # A bijection of the valid ones.
        np.testing.assert_array_equal(p[~mask], np.flatnonzero(~mask))  # Padding: itself.
        seen |= set(zip(valid.tolist(), p[valid].tolist(), strict=True))
    assert seen == {(i, j) for i in valid for j in valid}
    x, y, _ = A.mixup(jnp.ones((10, 1, 1, 1)) * jnp.arange(10.0)[:, None, None, None],
                      jnp.eye(10), jax.random.key(1), 0.5, jnp.asarray(mask))
    np.testing.assert_array_equal(np.asarray(x)[~mask, 0, 0, 0], np.flatnonzero(~mask))
    assert np.all(np.asarray(y)[mask][:, ~mask] == 0)  # No padding's class in a real target.


def test_the_chain_then_finish_on_device_mixes_and_drops_the_key_fields():
    chain = A.AuthorsChain(num_layers=2, magnitude=1.0, crop="resize_crop", resize_to=36,
                           crop_size=32, flip=True)
    rng = np.random.default_rng(9)
    key_data = rng.integers(0, 2**32, (6, 2), dtype=np.uint64).astype(np.uint32)
    batch = {"image": rng.integers(0, 256, (6, 32, 32, 3)).astype(np.float32),
             "target": np.eye(6, dtype=np.float32), "label": np.arange(6, dtype=np.int32),
             "id": np.arange(6, dtype=np.int32), "aug_key": key_data,
             "mixup_key": np.tile(key_data[:1], (6, 1))}
    def finish(b):
        b = dict(b, image=A.authors_train_chain(b["image"], A.keys_from_data(b["aug_key"]),
                                                chain))
        return A.finish_on_device(b, mixup_alpha=0.5)

    out = jax.jit(finish)(batch)
    assert sorted(out) == ["id", "image", "label", "target"]
    np.testing.assert_array_equal(out["label"], batch["label"])
    augmented = A.authors_train_chain(jnp.asarray(batch["image"]),
                                      A.keys_from_data(jnp.asarray(key_data)), chain)
    want, targets, _ = A.mixup(augmented / 127.5 - 1.0, jnp.eye(6),
                               A.keys_from_data(jnp.asarray(key_data[0])), 0.5)
    # Jitted vs eager float sums (resize, sharpness) may move a truncated level, rarely.
    assert np.mean(np.abs(np.asarray(out["image"]) - np.asarray(want)) > 1e-5) < 0.005
    np.testing.assert_allclose(out["target"], targets, atol=1e-6)
    assert out["image"].min() >= -1 and out["image"].max() <= 1
