"""The default experiment configuration: every public key gwa-jax understands.

Experiment files in ``configs/`` start from :func:`default_config` and override what they
need (big_vision style ``get_config(arg)``). Keys not listed here are rejected by the
config validator, so this file is the single source of truth for the schema.
"""

from __future__ import annotations

import ml_collections

from gwa_jax.run.run_format import FORMAT_VERSION


class ConfigError(ValueError):
    """An invalid configuration; the message is one line that says what to change."""


def default_config() -> ml_collections.ConfigDict:
    """Returns a ConfigDict holding every key with its default value."""
    c = ml_collections.ConfigDict()
    # The run format this gwa-jax writes (see gwa_jax.run.run_format); recorded, not a setting.
    c.format_version = FORMAT_VERSION
    c.seed = 0
    c.total_steps = 1000  # The paper fixes optimisation steps, not epochs.
    c.batch_size = 128  # Global batch size (split over all devices).
    c.eval_batch_size = 512

    # --- Data -------------------------------------------------------------------------
    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = "fashion_mnist"  # Registry name, see gwa_jax.data.DATASETS.
    c.dataset.data_dir = ml_collections.FieldReference(None, field_type=str)
    c.dataset.label_key = "label"  # cifar10_n: label / aggre_label / random_label1 / worse_label.
    c.dataset.val_fraction = 0.0  # Stratified hold-out fraction of train: 0, 0.01, 0.1.
    # Table 5 mode: train on this fraction of train whatever val_fraction is (None = off).
    c.dataset.fixed_train_fraction = ml_collections.FieldReference(None, field_type=float)
    # Labels of the validation accuracy / `val` criterion: "clean" (the authors' protocol) or
    # "noisy" (the training labels); the other is logged as val_acc_noisy / val_acc_clean.
    c.dataset.val_labels = "clean"
    c.dataset.split_seed = 0  # Independent of `seed`: same split for every training seed.
    c.dataset.train_subset = ml_collections.FieldReference(None, field_type=int)
    c.dataset.image_size = ml_collections.FieldReference(None, field_type=int)  # None: native.
    # Train and test on these classes only, relabelled 0..k-1 in order (None = all).
    c.dataset.classes = ml_collections.config_dict.placeholder(tuple)
    c.dataset.test_sets = ()  # Extra named test sets (e.g. "imagenet_v2", "cifar10_corrupted").
    c.dataset.label_noise = ml_collections.ConfigDict()
    c.dataset.label_noise.kind = "none"  # none / symmetric / asymmetric.
    c.dataset.label_noise.rate = 0.0
    c.dataset.label_noise.seed = 0
    # Host input pipeline (Grain): reading threads, and worker processes for datasets the host
    # decodes (JPEGs; 0 = threads only). Augmentation runs on the accelerator either way.
    c.dataset.read_threads = 2
    c.dataset.worker_processes = 0

    # --- Augmentation (paper Table 4) ----------------------------------------------------
    c.augment = ml_collections.ConfigDict()
    c.augment.randaug_magnitude = 0  # 0 disables RandAugment.
    c.augment.randaug_num_ops = 2
    # authors: the paper authors' RandAugment (TF Model Garden: 16 ops + identity, their
    # magnitudes); timm14: the 14-op torchvision/timm list. Both in JAX inside the train step.
    c.augment.randaug_ops = "authors"
    c.augment.mixup = 0.0  # Mixup alpha (one Beta(a, a) weight per batch, in the train step).
    # none / pad_crop (zero-pad 4 px, random crop) / inception (224 px) / resize_crop (the
    # authors' CIFAR chain: bilinear resize to resize_to, RandAugment, random crop back to the
    # image size, flip). Only the inception crop runs on the host; the rest in the train step.
    c.augment.crop = "none"
    c.augment.resize_to = 36  # resize_crop only.
    c.augment.flip = False
    c.augment.label_smoothing = 0.0

    # --- Model -------------------------------------------------------------------------
    c.model = ml_collections.ConfigDict()
    c.model.name = "vit_fmnist"
    c.model.dtype = "float32"  # float32 / bfloat16 (the head always computes in float32).
    c.model.dropout = 0.0
    c.model.drop_path = 0.0
    # ConvNeXt stem downsampling: None = the variant's default (4 for 224 px); 1 for 32 px.
    c.model.stem_stride = ml_collections.FieldReference(None, field_type=int)
    # Pretrained start: an AugReg .npz, or another run's workdir (see gwa_jax.train.init_from).
    c.model.init_from = ml_collections.FieldReference(None, field_type=str)
    c.model.init_kind = "latest"  # Checkpoint of a workdir init_from: latest/best_gwa/best_val.
    c.model.reinit_head = ml_collections.config_dict.placeholder(bool)  # None: if labels change.
    # Architecture hyperparameters: dataclass fields of the model, e.g. depths=(1, 1, 1, 1).
    c.model.kwargs = ml_collections.ConfigDict()

    # --- Optimiser -----------------------------------------------------------------------
    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"  # adam / adamw / sgd.
    c.optim.lr = 1e-3
    c.optim.weight_decay = 0.0
    c.optim.momentum = 0.9  # SGD momentum; Adam uses b1 = 0.9, b2 = 0.999.
    c.optim.grad_clip_norm = ml_collections.FieldReference(None, field_type=float)
    c.optim.schedule = "cosine"  # constant / cosine / warmup_cosine.
    c.optim.warmup_steps = 0
    # Micro-batches per optimiser step (optax.MultiSteps); batch_size stays the effective batch.
    c.optim.accumulate_steps = 1

    # --- GWA -----------------------------------------------------------------------------
    c.gwa = ml_collections.ConfigDict()
    c.gwa.enabled = True
    c.gwa.beta = 1.2
    # Epochs whose denominator kurtosis + beta is <= this count as GWA-undefined (the paper's
    # formula: only a non-positive denominator; raise e.g. to 0.1 to skip near-singular ones).
    c.gwa.min_denominator = 1e-6
    c.gwa.jlt_dim = ml_collections.FieldReference(None, field_type=int)  # e.g. 192.
    c.gwa.jlt_seed = 0
    c.gwa.warmup_fraction = 0.1  # GWA criterion ignores the first 10% of steps.
    c.gwa.save_scores_every = 1  # Epochs between alignment/epoch_NNNN.npy files; 0 = never.
    # Bootstrap resamples of the epoch's scores for GWA's standard error (`gwa_se`); 0 = off.
    c.gwa.bootstrap_resamples = 200
    c.gwa.offline_every = 0  # Epochs between offline (fixed-weight) estimates; 0 = never.

    # --- Early-stopping criteria -----------------------------------------------------------
    c.criteria = ml_collections.ConfigDict()
    c.criteria.labelwave_window = 3  # Moving-average window of LabelWave's prediction changes.
    c.criteria.gd = ml_collections.ConfigDict()
    c.criteria.gd.enabled = False
    c.criteria.gd.num_batches = 5  # Batches whose pairwise gradient distances are averaged.
    c.criteria.gd.patience = 5
    # Early stopping that ends training: after `patience` epochs past the GWA warm-up without a
    # new maximum of `criterion` ("gwa", or "gwa_finetune", counted from its initial minimum;
    # an epoch with undefined GWA is no new maximum). 0 = train to total_steps (the paper's
    # protocol). Not part of a run's identity: resume a stopped run with a larger patience, or
    # 0, to train on.
    c.criteria.early_stop = ml_collections.ConfigDict(dict(patience=0, criterion="gwa"))

    # --- Checkpoints and logging ---------------------------------------------------------
    c.checkpoint_every = 1  # Epochs between "latest" checkpoints.
    c.log_every_steps = 100  # Progress line (step, loss, images/s, ETA) when not on a TTY.
    c.debug_nan_at_step = ml_collections.FieldReference(None, field_type=int)  # Test hook.
    return c
