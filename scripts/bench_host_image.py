"""Times the host image ops of gwa_jax.data.host_image on one ImageNet-sized JPEG.

    PYTHONPATH=src python scripts/bench_host_image.py [--image PHOTO.jpg] [--size 224]

The photo (default: scikit-learn's ``china.jpg`` when scikit-learn is installed, else a
synthetic image) is resized to 500 x 375 (ImageNet's most common size) and re-encoded as a
quality-90 JPEG; prints one JSON line with milliseconds per image (median of ``--repeats``
runs) for the decode, the inception crop + resize (new window each run) and the evaluation
resize + center crop.
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np
from PIL import Image

from gwa_jax.data import host_image


def test_jpeg(path: str | None) -> bytes:
    """A 500 x 375 quality-90 JPEG (4:2:0) of the photo at ``path`` (or a default one)."""
    if path is None:
        try:
            from sklearn.datasets import load_sample_image

            photo = Image.fromarray(load_sample_image("china.jpg"))
        except ImportError:
            rng = np.random.default_rng(0)
            y, x = np.mgrid[0:375, 0:500]
            noise = rng.normal(0, 25, (375, 500, 3))
            photo = Image.fromarray(np.clip(
                128 + 80 * np.sin(x / 17.0)[..., None] * np.cos(y / 11.0)[..., None] + noise,
                0, 255).astype(np.uint8))
    else:
        photo = Image.open(path).convert("RGB")
    buf = io.BytesIO()
    photo.resize((500, 375), Image.BILINEAR).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def median_ms(fn, repeats: int) -> float:
    """Median wall time of ``fn(i)`` over ``repeats`` calls, in milliseconds."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default=None)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=200)
    args = p.parse_args()
    encoded = test_jpeg(args.image)
    image = host_image.decode_image(encoded, 3)
    keys = np.random.default_rng(0).integers(0, 2**32, (args.repeats, 2), dtype=np.uint32)
    result = {
        "jpeg_bytes": len(encoded),
        "size": args.size,
        "decode_ms": median_ms(lambda i: host_image.decode_image(encoded, 3), args.repeats),
        "inception_window_ms": median_ms(
            lambda i: host_image.inception_window(375, 500, keys[i]), args.repeats),
        "inception_crop_ms": median_ms(
            lambda i: host_image.inception_crop(image, keys[i], args.size), args.repeats),
        "resize_center_crop_ms": median_ms(
            lambda i: host_image.resize_center_crop(image, args.size), args.repeats),
    }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                      for k, v in result.items()}))


if __name__ == "__main__":
    main()
