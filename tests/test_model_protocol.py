"""The networks and schedule against the GWA authors' code (``hlzl/gwa``), by hand.

Parameter counts are written layer by layer from the authors' ``convnext.py`` / ``vit.py`` and
``conf/arch/*.yaml`` (not from our modules); initial weights against the distribution each
initialiser should draw from; the GELU variant from the compiled program; the cosine
schedule against its closed form with the authors' ``decay_steps = n_iterations + 1``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gwa_jax import models
from gwa_jax.config_base import default_config
from gwa_jax.config_check import ConfigError, check_values
from gwa_jax.train.optim import make_schedule
from gwa_jax.train.step import model_overrides

PUBLISHED = {"stem_bias": True, "gelu_approximate": False, "kernel_init": "normal"}


# --- Hand counts ----------------------------------------------------------------------------


def convnext_count(dims, depths, *, stem, dw, num_classes, in_ch=3, stem_bias=False):
    """ConvNeXtV2 of hlzl/gwa: Conv(s x s) [+ bias] + LN; per stage (LN + Conv 2x2 + bias
    before stages 1-3) and blocks dwconv(k x k, bias), LN, Dense 4C, GRN(gamma, beta),
    Dense C; final LN; head."""
    n = stem * stem * in_ch * dims[0] + (dims[0] if stem_bias else 0) + 2 * dims[0]
    for i, (c, depth) in enumerate(zip(dims, depths, strict=True)):
        if i > 0:
            n += 2 * dims[i - 1] + 2 * 2 * dims[i - 1] * c + c
        block = (dw * dw * c + c) + 2 * c + (c * 4 * c + 4 * c) + 2 * 4 * c + (4 * c * c + c)
        n += depth * block
    return n + 2 * dims[-1] + dims[-1] * num_classes + num_classes


def vit_count(*, patch, width, depth, mlp, num_classes, in_ch=3):
    """big_vision ViT (sincos2d, GAP, no class token): patch conv, per block 2 LN, q/k/v/out
    Dense (with bias), MLP D->M->D; encoder_norm; head."""
    block = 2 * 2 * width + 4 * (width * width + width) + (width * mlp + mlp + mlp * width + width)
    embed = patch * patch * in_ch * width + width
    return embed + depth * block + 2 * width + width * num_classes + num_classes


def n_params(name, image, num_classes, **kw):
    model = models.create(name, num_classes, **kw)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, *image))))
    return models.num_params(shapes["params"])


@pytest.mark.parametrize("name,image,classes,kw,hand", [
    # conf/arch/convnext_pico.yaml (downsample 1, so a 3x3 depthwise kernel), CIFAR-10.
    ("convnext_pico", (32, 32, 3), 10, {"stem_stride": 1},
     convnext_count((64, 128, 256, 512), (2, 2, 6, 2), stem=1, dw=3, num_classes=10)),
    # ImageNet: stem 4 (so a 5x5 depthwise kernel), 1000 classes.
    ("convnext_femto", (224, 224, 3), 1000, {},
     convnext_count((48, 96, 192, 384), (2, 2, 6, 2), stem=4, dw=5, num_classes=1000)),
    # conf/arch/vit_cifar.yaml: patch 4, width 512, depth 6, mlp 512, 8 heads.
    ("vit_cifar4", (32, 32, 3), 10, {},
     vit_count(patch=4, width=512, depth=6, mlp=512, num_classes=10)),
    # conf/arch/vit_s.yaml: variant S/16 = width 384, depth 12, mlp 1536, 6 heads.
    ("vit_s16", (224, 224, 3), 1000, {},
     vit_count(patch=16, width=384, depth=12, mlp=1536, num_classes=1000)),
])
def test_parameter_counts_match_the_authors_architecture(name, image, classes, kw, hand):
    assert n_params(name, image, classes, **kw) == hand


def test_hand_counts_are_the_known_totals():
    """The formulas themselves, pinned (ConvNeXt-V2-Femto is 5.2M at 224 px / 1000)."""
    assert convnext_count((64, 128, 256, 512), (2, 2, 6, 2), stem=1, dw=3,
                          num_classes=10) == 8_437_706
    assert convnext_count((48, 96, 192, 384), (2, 2, 6, 2), stem=4, dw=5,
                          num_classes=1000) == 5_180_200
    assert vit_count(patch=4, width=512, depth=6, mlp=512, num_classes=10) == 9_499_146


@pytest.mark.parametrize("name,image,kw", [
    ("convnext_pico", (32, 32, 3), {"stem_stride": 1}),
    ("convnext_femto", (224, 224, 3), {}),
    ("convnext_fmnist", (28, 28, 1), {}),
    ("convnext_fmnist_tiny", (28, 28, 1), {}),
])
def test_published_variant_adds_exactly_the_stem_bias(name, image, kw):
    ours = n_params(name, image, 10, **kw)
    published = n_params(name, image, 10, **kw, **PUBLISHED)
    dims0 = models.create(name, 10).dims[0]
    assert published - ours == dims0


# --- Initial weights ------------------------------------------------------------------------


def truncated_std(cut: float = 2.0) -> float:
    """Std of a unit normal truncated to [-cut, cut] (jax does not rescale it)."""
    pdf = math.exp(-cut * cut / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(cut / math.sqrt(2))
    return math.sqrt(1 - 2 * cut * pdf / mass)


def leaves(params):
    return {"/".join(str(k.key) for k in path): np.asarray(v)
            for path, v in jax.tree_util.tree_leaves_with_path(params)}


@pytest.fixture(scope="module")
def convnext_params():
    """The authors' default and the published variant of a CIFAR ConvNeXt (same seed; the
    parameter shapes do not depend on the image size, so a small image keeps init cheap)."""
    image = jnp.zeros((1, 8, 8, 3))
    out = {}
    for label, kw in (("ours", {}), ("published", PUBLISHED)):
        model = models.create("convnext_femto", 10, stem_stride=1, **kw)
        out[label] = leaves(model.init(jax.random.key(0), image)["params"])
    return out


def test_truncated_normal_std_is_the_cut_distributions():
    assert truncated_std() == pytest.approx(0.879626, abs=1e-6)


def test_convnext_kernels_are_truncated_normal_002(convnext_params):
    p = convnext_params["ours"]
    kernels = {k: v for k, v in p.items() if k.endswith("kernel")}
    names = {k.split("/")[0] for k in kernels}
    assert {"stem_conv", "head", "downsample1_conv", "stage0_block0"} <= names
    assert {k.split("/")[1] for k in kernels if k.startswith("stage0_block0")} == {
        "dwconv", "pwconv1", "pwconv2"}
    for key, w in kernels.items():
        assert np.abs(w).max() <= 2 * 0.02 + 1e-7, key
        if w.size >= 10_000:  # Sampling error of the std under 1 %.
            assert w.std() == pytest.approx(0.02 * truncated_std(), rel=0.03), key
    pooled = np.concatenate([w.ravel() for w in kernels.values()])
    assert pooled.std() == pytest.approx(0.02 * truncated_std(), rel=0.005)
    assert abs(pooled.mean()) < 1e-4
    assert "stem_conv/bias" not in p


def test_convnext_biases_and_grn_start_at_zero(convnext_params):
    p = convnext_params["ours"]
    zero = [k for k in p if k.endswith("bias") and "norm" not in k] + [
        k for k in p if k.endswith(("gamma", "beta"))]
    assert "head/bias" in zero and "stage0_block0/grn/gamma" in zero
    for key in zero:
        assert not np.any(p[key]), key


def test_published_variant_draws_from_an_uncut_normal(convnext_params):
    p = convnext_params["published"]
    pooled = np.concatenate([w.ravel() for k, w in p.items() if k.endswith("kernel")])
    assert pooled.std() == pytest.approx(0.02, rel=0.005)
    assert np.mean(np.abs(pooled) > 0.04) == pytest.approx(1 - math.erf(2 / math.sqrt(2)),
                                                          rel=0.05)
    assert p["stem_conv/bias"].shape == (48,) and not np.any(p["stem_conv/bias"])


def test_vit_initialisers_as_big_vision():
    width, mlp = 64, 128
    model = models.create("vit_fmnist", 10)
    p = leaves(model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))["params"])
    block = "Transformer/encoderblock_0"
    for name in ("query", "key", "value", "out"):
        w = p[f"{block}/MultiHeadDotProductAttention_1/{name}/kernel"]
        bound = math.sqrt(6 / (width + width))  # xavier_uniform over (D, D)
        assert np.abs(w).max() <= bound and w.std() == pytest.approx(bound / math.sqrt(3),
                                                                      rel=0.05)
        assert not np.any(p[f"{block}/MultiHeadDotProductAttention_1/{name}/bias"])
    w = p[f"{block}/MlpBlock_3/Dense_0/kernel"]
    assert np.abs(w).max() <= math.sqrt(6 / (width + mlp))
    for dense in ("Dense_0", "Dense_1"):
        b = p[f"{block}/MlpBlock_3/{dense}/bias"]
        assert np.any(b) and np.abs(b).max() < 1e-5  # normal(1e-6)
    embed = p["embedding/kernel"]  # lecun_normal: std 1 / sqrt(fan_in)
    assert embed.std() == pytest.approx(1 / math.sqrt(4 * 4 * 1), rel=0.1)
    assert not np.any(p["embedding/bias"])
    assert not np.any(p["head/kernel"]) and not np.any(p["head/bias"])
    assert p["Transformer/encoder_norm/scale"].shape == (width,)
    assert not any("pos_embedding" in k for k in p)  # sincos2d: no parameter


# --- GELU in the compiled program -----------------------------------------------------------


def primitives(jaxpr) -> set[str]:
    """Every primitive name in a jaxpr, sub-jaxprs (pjit, custom_jvp) included."""
    out = set()
    for eqn in jaxpr.eqns:
        out.add(eqn.primitive.name)
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    out |= primitives(inner)
    return out


def gelu_primitives(name, **kw):
    model = models.create(name, 10, **kw)
    x = jnp.ones((1, 28, 28, 1))
    params = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
    return primitives(jax.make_jaxpr(lambda v: model.apply(v, x))(params).jaxpr) & {
        "tanh", "erf", "erfc"}


def test_gelu_flavour_of_the_compiled_models():
    """tanh: the approximation; erf / erfc (jax writes the exact GELU with erfc): exact."""
    assert gelu_primitives("convnext_fmnist_tiny") == {"tanh"}
    exact = gelu_primitives("convnext_fmnist_tiny", gelu_approximate=False)
    assert exact and exact <= {"erf", "erfc"}
    assert gelu_primitives("vit_fmnist_tiny") == {"tanh"}


def test_gelu_primitive_check_tells_the_formulas_apart():
    """The second path: the two formulas differ numerically where the check says they do."""
    x = jnp.linspace(-3, 3, 61)
    exact = 0.5 * x * (1 + jax.scipy.special.erf(x / math.sqrt(2)))
    tanh = 0.5 * x * (1 + jnp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(jax.nn.gelu(x), tanh, atol=1e-6)
    np.testing.assert_allclose(jax.nn.gelu(x, approximate=False), exact, atol=1e-6)
    assert float(jnp.abs(exact - tanh).max()) > 1e-4
    model = models.create("convnext_fmnist_tiny", 10)
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, 1))
    params = model.init(jax.random.key(0), x)
    other = models.create("convnext_fmnist_tiny", 10, gelu_approximate=False)
    assert float(jnp.abs(model.apply(params, x) - other.apply(params, x)).max()) > 0


# --- The published variant through the config ---------------------------------------------


def convnext_config(**kwargs):
    c = default_config()
    c.model.name = "convnext_fmnist_tiny"
    for k, v in kwargs.items():
        c.model.kwargs[k] = v
    return c


def test_published_variant_is_selectable_by_config():
    c = convnext_config(**PUBLISHED, kernel_size=7)
    check_values(c, check_files=False)
    model = models.create(c.model.name, 10, **model_overrides(c.model))
    assert (model.stem_bias, model.gelu_approximate, model.kernel_init, model.kernel_size) == (
        True, False, "normal", 7)
    assert models.create("convnext_fmnist_tiny", 10).stem_bias is False


@pytest.mark.parametrize("key,value,choices", [
    ("kernel_init", "xavier", "'trunc_normal', 'normal'"),
    ("stem_bias", "yes", "False, True"),
    ("gelu_approximate", 1, "True, False"),
])
def test_bad_option_values_are_one_line(key, value, choices):
    with pytest.raises(ConfigError) as err:
        check_values(convnext_config(**{key: value}), check_files=False)
    line = str(err.value)
    assert "\n" not in line and f"{key}={value!r}" in line and choices in line
    with pytest.raises(ValueError, match=f"{key}="):
        models.create("convnext_fmnist_tiny", 10, **{key: value})


# --- Cosine schedule as the authors' create_scheduler -----------------------------------------


def optim(schedule, lr, warmup=0):
    cfg = default_config().optim
    cfg.schedule, cfg.lr, cfg.warmup_steps = schedule, lr, warmup
    return cfg


def test_cosine_spans_the_requested_steps_plus_one():
    """ConvNeXt CIFAR-10: 9,000 requested steps; 103 whole epochs of 87 steps (45,000 images,
    batch 512) run 8,961, so the last executed step is 8,960 (0-based). float32 rounding of
    1 + cos near the end: tolerance lr * 1e-7."""
    lr, n, last = 1e-3, 9000, 8960
    sched = make_schedule(optim("cosine", lr), n)
    assert float(sched(0)) == pytest.approx(lr, rel=1e-6)
    want = lr * 0.5 * (1 + math.cos(math.pi * last / (n + 1)))
    assert float(sched(last)) == pytest.approx(want, abs=lr * 1e-7)
    assert want > lr * 1e-5  # distinguishable from a cosine over the 8,961 effective steps
    assert float(sched(n)) == pytest.approx(lr * 0.5 * (1 + math.cos(math.pi * n / (n + 1))),
                                            abs=lr * 1e-7)
    assert float(sched(n)) > 0 and float(sched(n + 1)) == 0


def test_warmup_cosine_includes_the_warmup_in_the_requested_steps_plus_one():
    """ImageNet (hyperparams.yaml): 112,650 requested steps, 10,000 warm-up steps; optax's
    decay_steps = n + 1 is the whole length, so the cosine spans n + 1 - w steps."""
    lr, n, w = 1e-3, 112_650, 10_000
    last = 1251 * 90 - 1  # 90 whole epochs of 1,251 steps (1.28M images, batch 1024)
    sched = make_schedule(optim("warmup_cosine", lr, w), n)
    assert float(sched(0)) == 0.0
    assert float(sched(w // 2)) == pytest.approx(lr / 2, rel=1e-5)
    assert float(sched(w)) == pytest.approx(lr, rel=1e-6)
    want = lr * 0.5 * (1 + math.cos(math.pi * (last - w) / (n + 1 - w)))
    assert float(sched(last)) == pytest.approx(want, abs=lr * 1e-7)
    mid = w + (n + 1 - w) // 2
    assert float(sched(mid)) == pytest.approx(
        lr * 0.5 * (1 + math.cos(math.pi * (mid - w) / (n + 1 - w))), rel=1e-5)
    assert float(sched(n + 1)) == pytest.approx(0.0, abs=1e-12)


def test_constant_schedule_ignores_the_length():
    sched = make_schedule(optim("constant", 0.01), 10)
    assert float(sched(0)) == float(sched(9)) == pytest.approx(0.01)
