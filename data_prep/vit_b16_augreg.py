"""Checks that a locally downloaded ImageNet-21k AugReg ViT-B/16 checkpoint loads into gwa-jax.

This script never downloads anything. Fetch the checkpoint yourself (about 390 MiB) from the
public Google Cloud Storage bucket of the AugReg paper, e.g.

    gsutil cp gs://vit_models/augreg/B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz .
    # or, without gsutil:
    wget https://storage.googleapis.com/vit_models/augreg/B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz

then run

    python data_prep/vit_b16_augreg.py PATH/TO/B_16-i21k-...npz [--num-classes 1000]
        [--image-size 224]

It builds ``vit_b16`` with a fresh head of ``--num-classes`` outputs, loads every other
parameter from the file with ``gwa_jax.models.load_augreg_npz`` (resizing the position
embedding when ``--image-size`` is not 224), runs one forward pass on a dummy batch and
prints a summary. Exit status 0 means the file is usable as ``config.model.init_from``.
See data_prep/vit_b16_augreg.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

DEFAULT_FILE = "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0.npz"
GS_URL = f"gs://vit_models/augreg/{DEFAULT_FILE}"
HTTPS_URL = f"https://storage.googleapis.com/vit_models/augreg/{DEFAULT_FILE}"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="vit_b16_augreg.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Verify that a local ImageNet-21k AugReg ViT-B/16 .npz checkpoint loads into the\n"
            "gwa-jax vit_b16 model (class token, learned position embedding).\n\n"
            "Nothing is downloaded. Get the file (about 390 MiB) from the public bucket first:\n"
            f"  gsutil cp {GS_URL} .\n"
            "or\n"
            f"  wget {HTTPS_URL}\n"
        ),
        epilog="Other AugReg B/16 files (gs://vit_models/augreg/B_16-i21k-*.npz) work too.",
    )
    p.add_argument("path", help=f"local .npz checkpoint, e.g. {DEFAULT_FILE}")
    p.add_argument(
        "--num-classes",
        type=int,
        default=1000,
        help="classes of the freshly initialised head (default: 1000)",
    )
    p.add_argument(
        "--image-size",
        type=int,
        default=224,
        help="fine-tuning resolution; the 14x14 position-embedding grid is resized bilinearly "
        "to image_size/16 (default: 224, no resize)",
    )
    p.add_argument(
        "--no-forward", action="store_true", help="only load the parameters, skip the forward pass"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Runs the check; returns the process exit status."""
    args = build_parser().parse_args(argv)
    if not os.path.isfile(args.path):
        print(
            f"error: {args.path} not found; download it first (e.g. gsutil cp {GS_URL} .)",
            file=sys.stderr,
        )
        return 1

    import jax
    import jax.numpy as jnp

    from gwa_jax import models

    model = models.create("vit_b16", args.num_classes)
    x = jnp.zeros((1, args.image_size, args.image_size, 3), jnp.float32)
    t0 = time.time()
    # An "rbg" key only to compile the initialisers faster; the head is all that is kept.
    params = jax.jit(lambda k: model.init({"params": k}, x, train=False)["params"])(
        jax.random.key(0, impl="rbg")
    )
    try:
        params = models.load_augreg_npz(args.path, params, image_size=args.image_size)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    posemb = params["Transformer"]["posembed_input"]["pos_embedding"]
    print(f"loaded {args.path} in {time.time() - t0:.1f}s")
    print(f"  parameters: {models.num_params(params):,} (head: {args.num_classes} classes, fresh)")
    print(f"  position embedding: {tuple(posemb.shape)}")
    if not args.no_forward:
        logits, mut = jax.jit(
            lambda p, x: model.apply({"params": p}, x, train=False, mutable=["latent_embeddings"])
        )(params, x)
        z = mut["latent_embeddings"]["x"][-1]
        if not (bool(jnp.all(jnp.isfinite(logits))) and bool(jnp.all(jnp.isfinite(z)))):
            print("error: non-finite outputs from the loaded model", file=sys.stderr)
            return 1
        print(
            f"  forward pass ok: logits {tuple(logits.shape)}, latent {tuple(z.shape)}, "
            f"|z| = {float(jnp.linalg.norm(z)):.3f}"
        )
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
