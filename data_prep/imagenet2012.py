"""Prepare ImageNet-1k (and its test sets V2, ReaL, -C) for gwa-jax: ``--help`` for steps."""

from __future__ import annotations

import _tfds_prepare as prep

STEPS = """
imagenet2012 (train 1,281,167 images = the id space; validation 50,000 = the test set):
  1. Register at https://image-net.org/download-images and download
       ILSVRC2012_img_train.tar (~138 GB) and ILSVRC2012_img_val.tar (~6.3 GB)
     into the manual directory <data_dir>/downloads/manual
     (~/tensorflow_datasets/downloads/manual by default). Do not extract them.
  2. python data_prep/imagenet2012.py [--data_dir DIR]
     (about 150 GB of array_record files, several hours on a few cores).
  3. The first gwa-jax run on imagenet2012 reads the labels once (images skipped) and caches
     them in <data_dir>/gwa_jax_index/ (or $GWA_INDEX_DIR) for stratified splits and noise.

Extra test sets (evaluated by default with imagenet2012: imagenet_v2, imagenet2012_real):
  --with imagenet_v2            downloads ImageNet-V2 matched-frequency automatically.
  --with imagenet2012_real      needs ILSVRC2012_img_val.tar in the manual directory; the
                                ReaL labels are downloaded from
                                github.com/google-research/reassessed-imagenet.
  --with imagenet2012_corrupted needs ILSVRC2012_img_val.tar in the manual directory; builds
                                the 15 corruptions x 5 severities (slow: hours per corruption).
Example: python data_prep/imagenet2012.py --with imagenet_v2 --with imagenet2012_real
Use --skip_train to build only the extra sets.
"""

CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
)  # fmt: skip
EXTRAS = ("imagenet_v2", "imagenet2012_real", "imagenet2012_corrupted")


def main() -> None:
    p = prep.parser("imagenet2012", "ILSVRC-2012 from the manually downloaded tars.", STEPS)
    p.add_argument("--with", dest="extras", action="append", default=[], choices=EXTRAS)
    p.add_argument("--skip_train", action="store_true", help="do not build imagenet2012.")
    args = p.parse_args()
    directory = prep.manual_dir(args)
    names = [] if args.skip_train else ["imagenet2012"]
    needs_val = bool(names) or any(e != "imagenet_v2" for e in args.extras)
    if not args.dry_run and needs_val:
        tars = ["ILSVRC2012_img_val.tar"]
        if not args.skip_train:
            tars.append("ILSVRC2012_img_train.tar")
        prep.check_files(directory, tars)
    for extra in args.extras:
        if extra == "imagenet2012_corrupted":
            names += [f"imagenet2012_corrupted/{c}_{s}" for c in CORRUPTIONS for s in range(1, 6)]
        else:
            names.append(extra)
    prep.build(names, args)


if __name__ == "__main__":
    main()
