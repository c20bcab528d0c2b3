"""Tests of the model zoo (gwa_jax.models): shapes, head/latent convention, dtypes, parameter
counts, stochastic layers, AugReg .npz loading and a short Fashion-MNIST training run.

Big models are only traced (jax.eval_shape); real forward passes use the small variants.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
from pathlib import Path

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gwa_jax import models
from gwa_jax.models.augreg import load_augreg_npz, resize_posemb
from gwa_jax.models.convnext import GRN, DepthwiseConv
from gwa_jax.models.vit import posemb_sincos_2d

FMNIST_DIR = Path(os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
REPO = Path(__file__).resolve().parents[1]
LATENTS = "latent_embeddings"

EXPECTED_NAMES = {
    "convnext_atto",
    "convnext_femto",
    "convnext_pico",
    "convnext_nano",
    "convnext_tiny",
    "vit_ti16",
    "vit_s16",
    "vit_b16",
    "vit_cifar4",
    "vit_fmnist",
    "vit_fmnist_tiny",
    "convnext_fmnist",
    "convnext_fmnist_tiny",
}
SMALL = ["vit_fmnist_tiny", "convnext_fmnist_tiny"]


def _input_spec(name: str) -> tuple[int, int]:
    """(image side, channels) a registered model is meant for."""
    if "fmnist" in name:
        return 28, 1
    if name == "vit_cifar4":
        return 32, 3
    return 224, 3


def _latent_dim(model: flax.linen.Module) -> int:
    return model.width if isinstance(model, models.ViT) else model.dims[-1]


def _shapes(model, x_shape, num_classes):
    """eval_shape of init + apply: (params shapes, logits shape, latent tuple)."""
    x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
    variables = jax.eval_shape(lambda x: model.init({"params": jax.random.key(0)}, x), x)
    logits, mut = jax.eval_shape(
        lambda v, x: model.apply(v, x, train=False, mutable=[LATENTS]), variables, x
    )
    return variables, logits, mut


@functools.partial(jax.jit, static_argnames=("model",))
def _init_jit(model, x, key):
    return model.init({"params": key}, x)["params"]


def _init(model, x, seed=0):
    """Jitted init (compiled once per distinct model and input shape); returns the params.

    Uses an "rbg" key: XLA compiles the ~40 parameter initialisers of a ConvNeXt about 3x
    faster than with the default threefry keys on CPU, which matters for test time.
    """
    return _init_jit(model, x, jax.random.key(seed, impl="rbg"))


@functools.partial(jax.jit, static_argnames=("model", "train"))
def _apply_jit(model, params, x, key, train):
    return model.apply({"params": params}, x, train=train, rngs={"dropout": key}, mutable=[LATENTS])


def _apply(model, params, x, *, train=False, key=None):
    """Jitted apply -> (logits, {"latent_embeddings": ...}); model compiled once per shape."""
    key = jax.random.key(0) if key is None else key
    return _apply_jit(model, params, x, key, train)


@pytest.fixture(scope="module")
def images28() -> jax.Array:
    return jax.random.uniform(jax.random.key(1), (4, 28, 28, 1), jnp.float32)


@pytest.fixture(scope="module")
def small_models(images28):
    """name -> (model, params) for the small variants, 10 classes; a non-zero head (the ViTs'
    default zero head would make every logit 0 and hide what the layers compute)."""
    out = {}
    for name in SMALL:
        m = models.create(name, 10, head_init_std=0.02)
        out[name] = (m, _init(m, images28))
    return out


# --- Registry ------------------------------------------------------------------------------


def test_registry_names():
    assert EXPECTED_NAMES <= set(models.names())
    assert models.names() == sorted(models.names())


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'vit_xl'.*convnext_atto.*vit_s16"):
        models.create("vit_xl", 10)


def test_unknown_override_lists_fields():
    with pytest.raises(ValueError, match="stem_strid.*valid fields:.*stem_stride"):
        models.create("convnext_pico", 10, stem_strid=1)
    with pytest.raises(ValueError, match="valid fields:.*patch_size"):
        models.create("vit_s16", 10, kernel_size=3)


def test_overrides_and_dtype_strings():
    m = models.create("convnext_pico", 10, stem_stride=1, drop_path=0.1, dtype="bfloat16")
    assert (m.stem_stride, m.drop_path, m.dtype, m.num_classes) == (1, 0.1, jnp.bfloat16, 10)
    assert models.create("vit_s16", 10, dtype="float32").dtype == jnp.float32
    assert models.create("vit_s16", 10, dtype=jnp.bfloat16).dtype == jnp.bfloat16
    assert models.create("convnext_fmnist", 10, dims=[8, 16, 32, 64]).dims == (8, 16, 32, 64)
    with pytest.raises(ValueError, match="dtype"):
        models.create("vit_s16", 10, dtype="float16")
    with pytest.raises(ValueError, match="num_classes"):
        models.create("vit_s16", 0)


# --- Shapes and parameter counts ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_output_and_latent_shapes(name):
    side, ch = _input_spec(name)
    model = models.create(name, 7)
    variables, logits, mut = _shapes(model, (2, side, side, ch), 7)
    assert set(variables) == {"params"}  # LayerNorm only: no batch statistics
    assert "head" in variables["params"]
    assert logits.shape == (2, 7) and logits.dtype == jnp.float32
    sown = mut[LATENTS]["x"]
    assert isinstance(sown, tuple) and len(sown) == 1
    assert sown[-1].shape == (2, _latent_dim(model)) and sown[-1].dtype == jnp.float32
    head = variables["params"]["head"]
    assert head["kernel"].shape == (_latent_dim(model), 7) and head["kernel"].dtype == jnp.float32


@pytest.mark.parametrize(
    "name,published",
    [
        ("convnext_atto", 3.7e6),
        ("convnext_femto", 5.2e6),
        ("convnext_pico", 9.1e6),
        ("convnext_nano", 15.6e6),
        ("convnext_tiny", 28.6e6),
        ("vit_s16", 22.1e6),
        ("vit_b16", 86.6e6),
    ],
)
def test_param_counts_match_published(name, published):
    # The published ConvNeXt-V2 has 7x7 depthwise kernels; the default follows the GWA
    # authors' code (5x5 at 224 px), see test_convnext_follows_the_authors_kernel_rule.
    published_arch = {"kernel_size": 7} if name.startswith("convnext") else {}
    variables, _, _ = _shapes(models.create(name, 1000, **published_arch), (1, 224, 224, 3), 1000)
    n = models.num_params(variables["params"])
    assert abs(n / published - 1) < 0.01, f"{name}: {n:,} vs published {published:,.0f}"


@pytest.mark.parametrize("stride,size,dw,grid", [(4, 224, 5, 56), (2, 28, 3, 14),
                                                 (1, 32, 3, 32)])
def test_convnext_follows_the_authors_kernel_rule(stride, size, dw, grid):
    """hlzl/gwa: stem kernel = stride (the downsampling factor), depthwise 3x3 when the
    stride is <= 2, else 5x5; the parameter count differs from the published 7x7 network by
    exactly the depthwise kernels (sum of channels over blocks times 49 - dw^2)."""
    model = models.create("convnext_pico", 10, stem_stride=stride)
    variables, _, mut = _shapes(model, (1, size, size, 3), 10)
    p = variables["params"]
    assert p["stem_conv"]["kernel"].shape == (stride, stride, 3, 64)
    assert p["stage0_block0"]["dwconv"]["kernel"].shape == (dw, dw, 1, 64)
    published, _, _ = _shapes(models.create("convnext_pico", 10, stem_stride=stride,
                                            kernel_size=7), (1, size, size, 3), 10)
    channels = sum(d * c for d, c in zip((2, 2, 6, 2), (64, 128, 256, 512), strict=True))
    assert (models.num_params(published["params"]) - models.num_params(p)
            == channels * (49 - dw * dw))
    stem = nn.Conv(64, (stride, stride), strides=(stride, stride), padding="VALID")
    assert jax.eval_shape(lambda x: stem.init_with_output(jax.random.key(0), x)[0],
                          jnp.zeros((1, size, size, 3))).shape == (1, grid, grid, 64)


def test_vit_head_starts_at_zero_as_the_authors():
    x = jnp.zeros((1, 28, 28, 1))
    zero = models.create("vit_fmnist_tiny", 10).init(jax.random.key(0), x)["params"]["head"]
    assert not np.any(np.asarray(zero["kernel"])) and not np.any(np.asarray(zero["bias"]))
    normal = models.create("vit_fmnist_tiny", 10, head_init_std=0.02).init(
        jax.random.key(0), x)["params"]["head"]
    assert np.std(np.asarray(normal["kernel"])) > 0.01


def test_small_resolution_convnext_shapes():
    """CIFAR-style ConvNeXt: stem_stride=1 at 32 px keeps 32, 16, 8, 4 grids (1x1 stem as the
    authors; stem_kernel=3 gives a 3x3 / 1 stem)."""
    model = models.create("convnext_pico", 10, stem_stride=1)
    variables, logits, mut = _shapes(model, (2, 32, 32, 3), 10)
    assert variables["params"]["stem_conv"]["kernel"].shape == (1, 1, 3, 64)
    three, _, _ = _shapes(models.create("convnext_pico", 10, stem_stride=1, stem_kernel=3),
                          (2, 32, 32, 3), 10)
    assert three["params"]["stem_conv"]["kernel"].shape == (3, 3, 3, 64)
    assert logits.shape == (2, 10) and mut[LATENTS]["x"][-1].shape == (2, 512)
    vit = models.create("vit_cifar4", 10)
    _, logits, _ = _shapes(vit, (2, 32, 32, 3), 10)
    assert logits.shape == (2, 10)


# --- Head / latent convention, jit, bf16 ----------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_head_consumes_sown_latent(name, small_models, images28):
    model, params = small_models[name]
    logits, mut = _apply(model, params, images28)
    z = mut[LATENTS]["x"][-1]
    assert z.shape == (4, _latent_dim(model))
    recomputed = z @ params["head"]["kernel"] + params["head"]["bias"]
    np.testing.assert_allclose(np.asarray(logits), np.asarray(recomputed), rtol=1e-5, atol=1e-5)
    assert float(jnp.abs(params["head"]["kernel"]).max()) > 0  # non-zero head init
    assert float(jnp.abs(params["head"]["bias"]).max()) == 0


@pytest.mark.parametrize("name", SMALL)
def test_bf16_path(name, small_models, images28):
    model32, params = small_models[name]
    model16 = models.create(name, 10, dtype="bfloat16")
    params16 = jax.eval_shape(lambda x: model16.init({"params": jax.random.key(0)}, x), images28)
    assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(params16))
    ref, _ = _apply(model32, params, images28)
    out, mut = _apply(model16, params, images28)
    assert out.dtype == jnp.float32 and mut[LATENTS]["x"][-1].dtype == jnp.float32
    err = float(jnp.abs(out - ref).max())
    assert err < 0.05 * float(jnp.abs(ref).max()) + 0.02, err


def test_depthwise_impls_agree():
    x = jax.random.normal(jax.random.key(0), (2, 7, 6, 8))
    for k in (3, 4, 7):
        conv = DepthwiseConv(k, impl="conv")
        rng = np.random.default_rng(k)
        params = {
            "params": {
                "kernel": rng.normal(size=(k, k, 1, 8)).astype(np.float32),
                "bias": rng.normal(size=(8,)).astype(np.float32),
            }
        }
        a = jax.jit(conv.apply)(params, x)
        b = jax.jit(DepthwiseConv(k, impl="shift").apply)(params, x)
        assert a.shape == x.shape
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_grn_matches_formula():
    x = jax.random.normal(jax.random.key(0), (2, 5, 5, 6))
    grn = GRN()
    params = grn.init(jax.random.key(0), x)
    np.testing.assert_allclose(np.asarray(grn.apply(params, x)), np.asarray(x), atol=1e-6)
    gamma = np.linspace(-1, 1, 6).astype(np.float32)
    beta = np.linspace(0.5, -0.5, 6).astype(np.float32)
    out = grn.apply({"params": {"gamma": gamma, "beta": beta}}, x)
    xn = np.asarray(x, np.float64)
    g = np.sqrt(((np.abs(xn) + 1e-9) ** 2).sum(axis=(1, 2), keepdims=True))  # the authors'

    n = g / (g.mean(axis=-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(np.asarray(out), gamma * xn * n + beta + xn, rtol=1e-5, atol=1e-5)


def test_grn_gradient_finite_on_zero_channels():
    x = jnp.zeros((2, 4, 4, 3)).at[0, 1, 1, 0].set(1.0)  # channels 1, 2 all zero
    grn = GRN()
    params = {"params": {"gamma": jnp.ones(3), "beta": jnp.zeros(3)}}
    g = jax.grad(lambda x: grn.apply(params, x).sum())(x)
    assert bool(jnp.all(jnp.isfinite(g)))


def test_sincos_posemb():
    pe = np.asarray(posemb_sincos_2d(3, 4, 16))
    assert pe.shape == (1, 12, 16)
    np.testing.assert_allclose(pe[0, 0], [0] * 4 + [1] * 4 + [0] * 4 + [1] * 4, atol=1e-7)
    # token (row 1, col 2): x quarter uses column 2, y quarter row 1; first frequency is 1.
    np.testing.assert_allclose(
        pe[0, 6, [0, 4, 8, 12]], np.array([np.sin(2), np.cos(2), np.sin(1), np.cos(1)]), atol=1e-6
    )


# --- Stochastic layers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("vit_fmnist_tiny", {"dropout": 0.2}),
        ("vit_fmnist_tiny", {"drop_path": 0.3}),
        ("convnext_fmnist_tiny", {"drop_path": 0.3}),
    ],
)
def test_stochastic_layers(name, overrides, small_models, images28):
    _, params = small_models[name]
    model = models.create(name, 10, **overrides)
    f = lambda p, x, k: _apply(model, p, x, train=True, key=k)[0]
    a = f(params, images28, jax.random.key(0))
    b = f(params, images28, jax.random.key(1))
    c = f(params, images28, jax.random.key(0))
    assert float(jnp.abs(a - b).max()) > 1e-4
    np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
    # train=False is deterministic and equals the rate-0 model.
    e1, _ = _apply(model, params, images28, train=False, key=jax.random.key(0))
    e2, _ = _apply(model, params, images28, train=False, key=jax.random.key(1))
    ref, _ = _apply(small_models[name][0], params, images28)
    np.testing.assert_array_equal(np.asarray(e1), np.asarray(e2))
    np.testing.assert_allclose(np.asarray(e1), np.asarray(ref), rtol=1e-6, atol=1e-6)


# --- AugReg .npz loading ----------------------------------------------------------------------

# A narrow ViT with exactly the B/16 layout (class token, learned posemb), fast on CPU.
MINI_B16 = {"width": 32, "depth": 2, "mlp_dim": 64, "num_heads": 4, "patch_size": 8}


def _augreg_keys(depth: int) -> set[str]:
    """The key set of a vit_jax / AugReg ViT checkpoint without its head."""
    keys = {
        "cls",
        "embedding/kernel",
        "embedding/bias",
        "Transformer/posembed_input/pos_embedding",
        "Transformer/encoder_norm/scale",
        "Transformer/encoder_norm/bias",
    }
    for i in range(depth):
        b = f"Transformer/encoderblock_{i}"
        for ln in ("LayerNorm_0", "LayerNorm_2"):
            keys |= {f"{b}/{ln}/scale", f"{b}/{ln}/bias"}
        for proj in ("query", "key", "value", "out"):
            keys |= {f"{b}/MultiHeadDotProductAttention_1/{proj}/{w}" for w in ("kernel", "bias")}
        for dense in ("Dense_0", "Dense_1"):
            keys |= {f"{b}/MlpBlock_3/{dense}/{w}" for w in ("kernel", "bias")}
    return keys


def test_vit_b16_param_tree_matches_augreg_layout():
    variables, _, _ = _shapes(models.create("vit_b16", 1000), (1, 224, 224, 3), 1000)
    flat = flax.traverse_util.flatten_dict(variables["params"], sep="/")
    assert set(flat) - {"head/kernel", "head/bias"} == _augreg_keys(12)
    blk = "Transformer/encoderblock_0/MultiHeadDotProductAttention_1"
    assert flat[f"{blk}/query/kernel"].shape == (768, 12, 64)
    assert flat[f"{blk}/out/kernel"].shape == (12, 64, 768)
    assert flat["Transformer/posembed_input/pos_embedding"].shape == (1, 197, 768)
    assert flat["embedding/kernel"].shape == (16, 16, 3, 768)
    assert flat["cls"].shape == (1, 1, 768)


def _write_npz(path: Path, params, *, drop=(), rename=None, head_classes=21) -> None:
    flat = {k: np.asarray(v) for k, v in flax.traverse_util.flatten_dict(params, sep="/").items()}
    d = flat["head/kernel"].shape[0]
    rng = np.random.default_rng(0)
    flat["head/kernel"] = rng.normal(size=(d, head_classes)).astype(np.float32)
    flat["head/bias"] = np.zeros(head_classes, np.float32)
    for k in drop:
        del flat[k]
    for old, new in (rename or {}).items():
        flat = {k.replace(old, new): v for k, v in flat.items()}
    np.savez(path, **flat)


@pytest.fixture(scope="module")
def mini_b16():
    """(model at 32 px, source params with a random non-zero cls token, .npz directory)."""
    model = models.create("vit_b16", 5, **MINI_B16)
    x = jnp.zeros((1, 32, 32, 3))
    params = flax.core.unfreeze(_init(model, x))
    params["cls"] = jax.random.normal(jax.random.key(9), params["cls"].shape)
    return model, params


def test_augreg_roundtrip(tmp_path, mini_b16, images28):
    model, src = mini_b16
    path = tmp_path / "mini.npz"
    _write_npz(path, src)
    fresh = _init(model, jnp.zeros((1, 32, 32, 3)), seed=1)
    loaded = load_augreg_npz(path, fresh)
    # Head from the fresh params (5 classes), everything else from the file.
    np.testing.assert_array_equal(loaded["head"]["kernel"], fresh["head"]["kernel"])
    want = dict(src, head=fresh["head"])
    x = jax.random.uniform(jax.random.key(2), (3, 32, 32, 3))
    out, mut = _apply(model, loaded, x)
    ref, ref_mut = _apply(model, want, x)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))
    np.testing.assert_array_equal(
        np.asarray(mut[LATENTS]["x"][-1]), np.asarray(ref_mut[LATENTS]["x"][-1])
    )
    # {"params": ...} wrapper is kept.
    wrapped = load_augreg_npz(path, {"params": fresh})
    assert set(wrapped) == {"params"}
    # Linen per-class module numbering is accepted too.
    linen = tmp_path / "linen.npz"
    renames = {
        "MultiHeadDotProductAttention_1": "MultiHeadDotProductAttention_0",
        "LayerNorm_2": "LayerNorm_1",
        "MlpBlock_3": "MlpBlock_0",
    }
    _write_npz(linen, src, rename=renames)
    out2, _ = _apply(model, load_augreg_npz(linen, fresh), x)
    np.testing.assert_array_equal(np.asarray(out2), np.asarray(ref))
    # Older files that prefix the parameters with "opt/target/".
    opt = tmp_path / "opt.npz"
    flat = dict(np.load(path))
    np.savez(opt, **{f"opt/target/{k}": v for k, v in flat.items()}, **{"opt/state/step": 0})
    out3, _ = _apply(model, load_augreg_npz(opt, fresh), x)
    np.testing.assert_array_equal(np.asarray(out3), np.asarray(ref))


def test_augreg_resize_keeps_class_token(tmp_path, mini_b16):
    model, src = mini_b16
    path = tmp_path / "mini.npz"
    _write_npz(path, src)
    model48 = models.create("vit_b16", 5, **MINI_B16)
    x48 = jnp.zeros((2, 48, 48, 3))
    fresh = _init(model48, x48, seed=1)
    loaded = load_augreg_npz(path, fresh)
    old = np.asarray(src["Transformer"]["posembed_input"]["pos_embedding"])
    new = np.asarray(loaded["Transformer"]["posembed_input"]["pos_embedding"])
    assert old.shape == (1, 1 + 16, 32) and new.shape == (1, 1 + 36, 32)
    np.testing.assert_array_equal(new[:, 0], old[:, 0])
    # Corners of the grid are kept by the (align-corners) bilinear zoom.
    np.testing.assert_allclose(new[0, 1], old[0, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new[0, -1], old[0, -1], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(loaded["cls"], np.asarray(src["cls"]))
    logits, _ = _apply(model48, loaded, x48)
    assert logits.shape == (2, 5) and bool(jnp.all(jnp.isfinite(logits)))
    # Non-square target grid with image_size.
    x_rect = jnp.zeros((1, 32, 48, 3))
    fresh_rect = jax.eval_shape(lambda x: _init(model48, x), x_rect)
    rect = load_augreg_npz(path, fresh_rect, image_size=(32, 48))
    assert rect["Transformer"]["posembed_input"]["pos_embedding"].shape == (1, 1 + 24, 32)
    with pytest.raises(ValueError, match="not a square"):
        load_augreg_npz(path, fresh_rect)


def test_resize_posemb_identity():
    pe = np.random.default_rng(0).normal(size=(1, 1 + 25, 8)).astype(np.float32)
    np.testing.assert_allclose(resize_posemb(pe, 1, (5, 5)), pe, atol=1e-6)


def test_augreg_errors(tmp_path, mini_b16):
    model, src = mini_b16
    with pytest.raises(FileNotFoundError, match="not found"):
        load_augreg_npz(tmp_path / "nope.npz", src)
    key = "Transformer/encoderblock_1/MlpBlock_3/Dense_0/kernel"
    missing = tmp_path / "missing.npz"
    _write_npz(missing, src, drop=[key])
    with pytest.raises(ValueError, match=f"'{key}' missing"):
        load_augreg_npz(missing, src)
    # A deeper model than the file, a wider file, and a garbage file.
    deeper = models.create("vit_b16", 5, **{**MINI_B16, "depth": 3})
    p3 = jax.eval_shape(lambda x: _init(deeper, x), jnp.zeros((1, 32, 32, 3)))
    full = tmp_path / "full.npz"
    _write_npz(full, src)
    with pytest.raises(ValueError, match="encoderblock_2.*missing"):
        load_augreg_npz(full, p3)
    shallow = models.create("vit_b16", 5, **{**MINI_B16, "depth": 1})
    p1 = jax.eval_shape(lambda x: _init(shallow, x), jnp.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match="encoderblock_1.*no place"):
        load_augreg_npz(full, p1)
    wide = models.create("vit_b16", 5, **{**MINI_B16, "mlp_dim": 96})
    pw = jax.eval_shape(lambda x: _init(wide, x), jnp.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match="shape mismatch for 'Transformer/encoderblock_0/MlpBl"):
        load_augreg_npz(full, pw)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="cannot read"):
        load_augreg_npz(junk, src)


def test_data_prep_script(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "vit_b16_augreg", REPO / "data_prep" / "vit_b16_augreg.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert "gs://vit_models/augreg/" in mod.build_parser().format_help()
    assert mod.main([str(tmp_path / "absent.npz")]) == 1
    assert "not found" in capsys.readouterr().err


# --- Fashion-MNIST training -------------------------------------------------------------------


def _read_idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


@pytest.fixture(scope="module")
def fmnist_batch() -> tuple[np.ndarray, np.ndarray]:
    img_path = FMNIST_DIR / "train-images-idx3-ubyte.gz"
    lbl_path = FMNIST_DIR / "train-labels-idx1-ubyte.gz"
    if not (img_path.exists() and lbl_path.exists()):
        pytest.skip(f"Fashion-MNIST not found in {FMNIST_DIR} (install dataset-fashion-mnist)")
    with gzip.open(img_path, "rb") as f:
        magic, n, rows, cols = np.frombuffer(f.read(16), dtype=">i4")
    assert (magic, rows, cols) == (2051, 28, 28) and n >= 256
    images = _read_idx(img_path, 16)[: 256 * 784].reshape(256, 28, 28, 1)
    labels = _read_idx(lbl_path, 8)[:256].astype(np.int32)
    return images.astype(np.float32) / 255.0, labels


@pytest.mark.parametrize("name", SMALL)
def test_fmnist_training_reduces_loss(name, fmnist_batch, small_models):
    """20 full-batch Adam steps on the first 256 Fashion-MNIST training images."""
    images, labels = fmnist_batch
    model, params = small_models[name]  # 10 classes, 28x28x1 (params independent of batch)
    tx = optax.adam(5e-3)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, key):
        def loss_fn(p):
            logits, _ = _apply(model, p, images, train=True, key=key)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    losses = []
    for i in range(20):
        params, opt_state, loss = step(params, opt_state, jax.random.key(i))
        losses.append(float(loss))
    assert np.all(np.isfinite(losses))
    assert losses[0] > 1.5  # ~ln(10) at init with the small head
    assert losses[-1] < 0.8 * losses[0], losses
