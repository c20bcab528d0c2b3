"""Constants of the training augmentation (:mod:`gwa_jax.data.augment_jax`), also read by the
TensorFlow reference of its tests (``tests/fixtures/tf_reference_ops.py``). No JAX import."""

PAD_CROP_PIXELS = 4
MAX_LEVEL = 10.0
FILL_VALUE = 128.0
GREY_WEIGHTS = (0.2989, 0.587, 0.114)
OPS: tuple[str, ...] = (
    "identity",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
    "rotate",
    "brightness",
    "color",
    "contrast",
    "sharpness",
    "posterize",
    "solarize",
    "auto_contrast",
    "equalize",
)
#: OPS index -> branch when the five geometric ops (OPS[1:6]) share one branch that gathers
#: pixels through a precomputed index map.
OP_BRANCH: tuple[int, ...] = (0, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9)
