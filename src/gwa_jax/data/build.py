"""``build_data(config) -> DataBundle``: the single entry point of the data layer."""

from __future__ import annotations

import dataclasses

import jax
import ml_collections
import numpy as np

from gwa_jax.data.classes import restrict_classes
from gwa_jax.data.eval import EvalSet
from gwa_jax.data.labels import check_val_labels, split_and_labels
from gwa_jax.data.noise import NOISE_KINDS
from gwa_jax.data.preprocess import Preprocess
from gwa_jax.data.registry import DatasetSpec, corrupted_test_sets, get_spec
from gwa_jax.data.sources import TrainSource, load_train_source, record_eval_set
from gwa_jax.data.splits import TRAIN, VAL
from gwa_jax.data.train import ArrayTrainStream, RecordTrainStream, TrainStream


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static facts about the training data.

    Attributes:
      name: registry name.
      num_classes: C.
      num_ids: size of the full train split = size of the id space (per-sample buffers).
      num_train: number of ids actually trained on (after val split / subset).
      image_shape: (H, W, C) of the preprocessed images.
      steps_per_epoch: ``ceil(num_train / batch_size)`` (the last batch padded and masked).
      label_key: the label feature trained on.
      source: where the data came from (e.g. ``idx:/usr/share/datasets/fashion-mnist``).
    """

    name: str
    num_classes: int
    num_ids: int
    num_train: int
    image_shape: tuple[int, int, int]
    steps_per_epoch: int
    label_key: str
    source: str


@dataclasses.dataclass
class DataBundle:
    """Everything a training run needs from the data layer.

    Attributes:
      info: :class:`DatasetInfo`.
      train: :class:`~gwa_jax.data.train.TrainStream` (``epoch(e)``, ``steps_per_epoch``,
        ``eval_stream()``).
      val: validation :class:`EvalSet` drawn from the train split, or ``None``: ``label`` is
        the clean label (``dataset.val_labels="clean"``, the default) or the training label
        (``"noisy"``); ``alt_label`` the other one where they differ; also ``true_label``
        and ``id``.
      tests: ``{key: EvalSet}``; ``"test"`` is the dataset's own test split, extra sets by
        name (``"imagenet_v2"``, ``"cifar10_corrupted/gaussian_noise_3"``, ...).
      corruption_groups: ``{test key: group}`` (Noise / Blur / Weather / Digital) for the
        corrupted test sets in ``tests``.
      meta: numpy arrays over the id space: ``ids`` int64 (num_train,) trained ids (sorted),
        ``true_labels`` int32 (num_ids,), ``train_labels`` int32 (num_ids,) (after noise),
        ``noise_mask`` bool (num_ids,), ``split`` int8 (num_ids,) (0 train, 1 val, 2 unused);
        with ``dataset.classes``, ``source_rows`` int64 (num_ids,): the row of the full
        train split behind each id (see :mod:`gwa_jax.data.classes`).
    """

    info: DatasetInfo
    train: TrainStream
    val: EvalSet | None
    tests: dict[str, EvalSet]
    corruption_groups: dict[str, str]
    meta: dict[str, np.ndarray]


def _check_config(spec: DatasetSpec, config: ml_collections.ConfigDict) -> None:
    ds = config.dataset
    if spec.test_only:
        raise ValueError(
            f"{spec.name!r} is a test-only dataset; use it in config.dataset.test_sets."
        )
    if ds.label_key not in spec.label_keys:
        raise ValueError(
            f"label_key {ds.label_key!r} is not valid for {spec.name}; valid: "
            f"{', '.join(spec.label_keys)}."
        )
    noise = ds.label_noise
    if noise.kind not in NOISE_KINDS:
        raise ValueError(f"Unknown label_noise.kind {noise.kind!r}; valid: {NOISE_KINDS}.")
    if noise.kind != "none" and noise.rate > 0 and ds.label_key != spec.clean_label_key:
        raise ValueError(
            "Synthetic label noise cannot be combined with a human-noisy label_key."
        )
    if noise.kind == "asymmetric" and spec.noise_map is None:
        raise ValueError(f"Asymmetric label noise is not defined for {spec.name}.")
    if config.batch_size <= 0 or config.eval_batch_size <= 0:
        raise ValueError("batch_size and eval_batch_size must be positive.")
    check_val_labels(ds, spec)


def _test_sets(
    spec: DatasetSpec,
    config: ml_collections.ConfigDict,
    source: TrainSource,
    preprocess: Preprocess,
) -> tuple[dict[str, EvalSet], dict[str, str]]:
    batch = config.eval_batch_size
    data_dir = config.dataset.data_dir
    tests = {"test": source.make_test("test", preprocess, batch)}
    groups: dict[str, str] = {}
    names = list(dict.fromkeys((*spec.default_test_sets, *config.dataset.test_sets)))
    if names:
        # A deliberate late import: this source's decoders (TFDS, PIL, scikit-learn) load only when
        # it is used.
        from gwa_jax.data.records import open_record_split
    for name in names:
        extra = get_spec(name)
        if extra.num_classes != spec.num_classes:
            raise ValueError(
                f"Test set {name!r} has {extra.num_classes} classes, {spec.name} has "
                f"{spec.num_classes}."
            )
        pre = dataclasses.replace(
            preprocess, native_shape=tuple(extra.image_shape), fixed_size=extra.fixed_size
        )
        if extra.name == spec.name:
            continue
        if extra.corrupted:
            for key, (builder_name, group) in corrupted_test_sets(name).items():
                records = open_record_split(builder_name, extra.test_split, data_dir,
                                            extra.prepare)
                tests[key] = record_eval_set(key, records, extra.test_label_key, pre, batch,
                                             extra.num_classes)
                groups[key] = group
        else:
            records = open_record_split(extra.tfds_name, extra.test_split, data_dir,
                                        extra.prepare)
            tests[name] = record_eval_set(
                name, records, extra.test_label_key, pre, batch, extra.num_classes,
                real_labels=extra.name == "imagenet2012_real")
    return tests, groups


def build_data(config: ml_collections.ConfigDict) -> DataBundle:
    """Builds the training stream, validation and test sets and metadata from ``config``.

    Reads ``seed``, ``batch_size``, ``eval_batch_size``, ``dataset.*`` and ``augment.*`` (see
    ``gwa_jax.config_base``).

    Raises:
      ValueError: unknown dataset name (the message lists the valid names) or invalid keys.
      DatasetNotFoundError: a needed dataset is not prepared (one line naming the command).
    """
    ds = config.dataset
    spec = get_spec(ds.name)
    _check_config(spec, config)
    preprocess = Preprocess.from_config(spec, config)
    source = load_train_source(spec, ds.data_dir, ds.label_key)
    num_classes, source_rows = spec.num_classes, None
    classes = ds.get("classes")
    if classes is not None:
        if ds.label_noise.kind == "asymmetric" or tuple(ds.test_sets) or spec.default_test_sets:
            raise ValueError("dataset.classes cannot be combined with asymmetric label noise "
                             "or extra test sets (both are defined on all classes).")
        source, source_rows = restrict_classes(source, classes, spec.num_classes, spec.name)
        num_classes = len(classes)

    split, train_labels = split_and_labels(
        ds, spec, source.true_labels, source.labels, num_classes
    )
    true_labels = np.asarray(source.true_labels, np.int32)
    train_ids = np.flatnonzero(split == TRAIN).astype(np.int64)

    common = dict(
        split=split,
        train_labels=train_labels,
        true_labels=true_labels,
        num_classes=num_classes,
        batch_size=config.batch_size,
        eval_batch_size=config.eval_batch_size,
        seed=int(config.seed),
        preprocess=preprocess,
        read_threads=int(ds.read_threads),
        worker_processes=int(ds.worker_processes),
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    if source.images is not None:
        train: TrainStream = ArrayTrainStream(source.images, **common)
    else:
        train = RecordTrainStream(source.records, **common)
    val_labels = "clean" if check_val_labels(ds, spec) == "clean" else "train"
    val = train.eval_subset(VAL, "val", labels=val_labels) if np.any(split == VAL) else None
    tests, groups = _test_sets(spec, config, source, preprocess)
    info = DatasetInfo(
        name=spec.name,
        num_classes=num_classes,
        num_ids=source.num_ids,
        num_train=len(train_ids),
        image_shape=preprocess.out_shape,
        steps_per_epoch=train.steps_per_epoch,
        label_key=ds.label_key,
        source=source.description,
    )
    meta = {
        "ids": train_ids,
        "true_labels": true_labels,
        "train_labels": train_labels,
        "noise_mask": train_labels != true_labels,
        "split": split,
    }
    if source_rows is not None:
        meta["source_rows"] = source_rows
    return DataBundle(
        info=info, train=train, val=val, tests=tests, corruption_groups=groups, meta=meta
    )
