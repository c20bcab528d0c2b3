"""Registry of the datasets gwa-jax knows: classes, shapes, splits, label keys, test sets.

``DATASETS`` maps a registry name (``config.dataset.name`` or an entry of
``config.dataset.test_sets``) to a :class:`DatasetSpec`. Training datasets have a
``train_split``; test-only datasets (``cifar10_corrupted``, ``imagenet_v2``,
``imagenet2012_real``, ``imagenet2012_corrupted``) only have a ``test_split`` and can only be
used as extra test sets of a training dataset with the same number of classes.

Corrupted test sets expand into one test set per corruption and severity. Their keys use the
corruption names of Hendrycks & Dietterich (2019), e.g. ``cifar10_corrupted/glass_blur_3``,
whatever the TFDS config is called (TFDS's CIFAR-10-C calls glass blur ``frosted_glass_blur``
and elastic transform ``elastic``).
"""

from __future__ import annotations

import dataclasses

#: The 15 benchmark corruptions of Hendrycks & Dietterich (2019), in their paper's order.
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)

#: Corruption -> group, as in the paper's Table 2 (Hendrycks & Dietterich groups).
CORRUPTION_GROUPS: dict[str, str] = {
    "gaussian_noise": "Noise",
    "shot_noise": "Noise",
    "impulse_noise": "Noise",
    "defocus_blur": "Blur",
    "glass_blur": "Blur",
    "motion_blur": "Blur",
    "zoom_blur": "Blur",
    "snow": "Weather",
    "frost": "Weather",
    "fog": "Weather",
    "brightness": "Weather",
    "contrast": "Digital",
    "elastic_transform": "Digital",
    "pixelate": "Digital",
    "jpeg_compression": "Digital",
}

SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

# TFDS config names that differ from the canonical corruption names, per TFDS dataset.
_TFDS_CORRUPTION_NAMES: dict[str, dict[str, str]] = {
    "cifar10_corrupted": {"glass_blur": "frosted_glass_blur", "elastic_transform": "elastic"},
    "imagenet2012_corrupted": {},
}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Static description of one dataset.

    Attributes:
      name: registry name.
      num_classes: number of classes C.
      image_shape: (H, W, C) of the stored images for fixed-size datasets; for
        variable-size datasets (``fixed_size=False``) the default training/eval shape.
      source: ``"fmnist"`` (Debian idx files, tfds fallback), ``"digits"`` (scikit-learn)
        or ``"tfds"``.
      tfds_name: TFDS builder name (``None`` for digits).
      train_split: TFDS split holding the id space; ``None`` for test-only datasets.
      test_split: TFDS split used as the main test set.
      label_keys: valid ``config.dataset.label_key`` values; the first one is the clean label.
      test_label_key: feature holding the label of the test split.
      streaming: ``True`` for datasets read from disk each epoch (too large for memory).
      fixed_size: ``True`` when every image has ``image_shape`` (evaluation is the identity).
      default_test_sets: extra test sets always evaluated with this training dataset.
      prepare: the one-line command that prepares the dataset (used in error messages).
      noise_map: key of :data:`gwa_jax.data.noise.ASYMMETRIC_MAPS`, ``None`` if asymmetric
        synthetic noise is not defined for this dataset.
      corrupted: ``True`` for test-only datasets that expand into corruption x severity sets.
      clean_labels_known: whether ``label_keys[0]`` holds clean labels, so that validation
        can be measured on them (``config.dataset.val_labels="clean"``).
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    source: str
    tfds_name: str | None
    train_split: str | None
    test_split: str | None
    label_keys: tuple[str, ...] = ("label",)
    test_label_key: str = "label"
    streaming: bool = False
    fixed_size: bool = True
    default_test_sets: tuple[str, ...] = ()
    prepare: str = ""
    noise_map: str | None = None
    corrupted: bool = False
    clean_labels_known: bool = True

    @property
    def test_only(self) -> bool:
        """Whether the dataset only provides test data."""
        return self.train_split is None

    @property
    def clean_label_key(self) -> str:
        """The feature holding the clean (original) label."""
        return self.label_keys[0]


def _tfds_build(name: str) -> str:
    return (f"python data_prep/tfds_build.py {name} --data_dir=$TFDS_DATA_DIR (array_record; "
            "TFDS downloads it automatically; needs pip install -e '.[prep]')")


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="fashion_mnist",
            num_classes=10,
            image_shape=(28, 28, 1),
            source="fmnist",
            tfds_name="fashion_mnist",
            train_split="train",
            test_split="test",
            prepare="sudo apt-get install -y dataset-fashion-mnist (or set GWA_FMNIST_DIR to a "
            "directory holding the four idx files, or run: python data_prep/tfds_build.py "
            "fashion_mnist)",
            noise_map="fashion_mnist",
        ),
        DatasetSpec(
            name="digits",
            num_classes=10,
            image_shape=(8, 8, 1),
            source="digits",
            tfds_name=None,
            train_split="train",
            test_split="test",
            prepare="pip install scikit-learn (the digits data ship with it)",
        ),
        DatasetSpec(
            name="cifar10",
            num_classes=10,
            image_shape=(32, 32, 3),
            source="tfds",
            tfds_name="cifar10",
            train_split="train",
            test_split="test",
            prepare=_tfds_build("cifar10"),
            noise_map="cifar10",
        ),
        DatasetSpec(
            name="cifar10_n",
            num_classes=10,
            image_shape=(32, 32, 3),
            source="tfds",
            tfds_name="cifar10_n",
            train_split="train",
            test_split="test",
            label_keys=("label", "aggre_label", "random_label1", "worse_label"),
            prepare="python data_prep/cifar10_n.py --help",
            noise_map="cifar10",
        ),
        DatasetSpec(
            name="cifar10_corrupted",
            num_classes=10,
            image_shape=(32, 32, 3),
            source="tfds",
            tfds_name="cifar10_corrupted",
            train_split=None,
            test_split="test",
            prepare="python data_prep/cifar10_corrupted.py --help",
            corrupted=True,
        ),
        DatasetSpec(
            name="imagenet2012",
            num_classes=1000,
            image_shape=(224, 224, 3),
            source="tfds",
            tfds_name="imagenet2012",
            train_split="train",
            test_split="validation",
            streaming=True,
            fixed_size=False,
            default_test_sets=("imagenet_v2", "imagenet2012_real"),
            prepare="python data_prep/imagenet2012.py --help",
        ),
        DatasetSpec(
            name="imagenet_v2",
            num_classes=1000,
            image_shape=(224, 224, 3),
            source="tfds",
            tfds_name="imagenet_v2",
            train_split=None,
            test_split="test",
            streaming=True,
            fixed_size=False,
            prepare="python data_prep/imagenet2012.py --help (section imagenet_v2)",
        ),
        DatasetSpec(
            name="imagenet2012_real",
            num_classes=1000,
            image_shape=(224, 224, 3),
            source="tfds",
            tfds_name="imagenet2012_real",
            train_split=None,
            test_split="validation",
            test_label_key="original_label",
            streaming=True,
            fixed_size=False,
            prepare="python data_prep/imagenet2012.py --help (section imagenet2012_real)",
        ),
        DatasetSpec(
            name="imagenet2012_corrupted",
            num_classes=1000,
            image_shape=(224, 224, 3),
            source="tfds",
            tfds_name="imagenet2012_corrupted",
            train_split=None,
            test_split="validation",
            streaming=True,
            fixed_size=False,
            prepare="python data_prep/imagenet2012.py --help (section imagenet2012_corrupted)",
            corrupted=True,
        ),
        DatasetSpec(
            name="i_naturalist2018",
            num_classes=8142,
            image_shape=(224, 224, 3),
            source="tfds",
            tfds_name="i_naturalist2018",
            train_split="train",
            test_split="validation",  # The TFDS test split has no labels.
            streaming=True,
            fixed_size=False,
            prepare="python data_prep/i_naturalist2018.py --help",
        ),
        DatasetSpec(
            name="places365_small",
            num_classes=365,
            image_shape=(224, 224, 3),
            source="tfds",
            tfds_name="places365_small",
            train_split="train",
            test_split="validation",  # The TFDS test split has no labels.
            streaming=True,
            fixed_size=False,
            prepare="python data_prep/places365_small.py --help",
        ),
    )
}


def get_spec(name: str) -> DatasetSpec:
    """Returns the spec of a registry name; ValueError listing the valid names otherwise."""
    base = name.split("/")[0]
    if base not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}.")
    return DATASETS[base]


def corrupted_test_sets(name: str) -> dict[str, tuple[str, str]]:
    """Expands a corrupted dataset into its test sets.

    Args:
      name: ``"cifar10_corrupted"`` or ``"imagenet2012_corrupted"``, or one set of it
        like ``"cifar10_corrupted/gaussian_noise_3"``.

    Returns:
      ``{test key: (tfds builder name "dataset/config", corruption group)}``, keys like
      ``"cifar10_corrupted/glass_blur_3"`` using canonical corruption names.
    """
    base, _, sub = name.partition("/")
    spec = get_spec(base)
    if not spec.corrupted:
        raise ValueError(f"{base!r} is not a corrupted dataset.")
    renames = _TFDS_CORRUPTION_NAMES[base]
    sets: dict[str, tuple[str, str]] = {}
    for corruption in CORRUPTIONS:
        for severity in SEVERITIES:
            key = f"{base}/{corruption}_{severity}"
            tfds_config = f"{renames.get(corruption, corruption)}_{severity}"
            sets[key] = (f"{spec.tfds_name}/{tfds_config}", CORRUPTION_GROUPS[corruption])
    if sub:
        key = f"{base}/{sub}"
        if key not in sets:
            raise ValueError(
                f"Unknown corrupted test set {name!r}; valid: {base}/<corruption>_<1..5> with "
                f"corruption in {', '.join(CORRUPTIONS)}."
            )
        return {key: sets[key]}
    return sets
