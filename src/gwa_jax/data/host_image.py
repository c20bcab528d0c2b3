"""Host image ops for ImageNet-style (variable-size, encoded) data in numpy + PIL.

The numpy counterparts of the TensorFlow ops of :mod:`gwa_jax.data.augment` and
:meth:`gwa_jax.data.preprocess.Preprocess.decode`, with the same arithmetic:

* :func:`decode_image`: JPEG with libjpeg's accurate integer DCT and fancy upsampling (PIL's
  defaults, TF's ``decode_jpeg(dct_method="INTEGER_ACCURATE")``), PNG and the other formats
  PIL reads; grey images become RGB when ``channels=3``.
* :func:`inception_window` / :func:`inception_crop`: the random-area crop of TF's
  ``sample_distorted_bounding_box`` (area 5%-100%, aspect 3/4-4/3, 10 attempts, whole image
  when none fits), drawn with numpy from an example's uint32 (2,) key data (same key, same
  window; the windows follow TF's distribution, not TF's random stream), then the bilinear
  resize of ``tf.image.resize(method="bilinear", antialias=False)`` (half-pixel centres,
  float32, horizontal then vertical) of the window only, rounded (half to even) to uint8.
* :func:`resize_center_crop`: evaluation's shorter side to ``round(size / 0.875)`` by TF's
  area resize (``method="area"``, no antialias; float32 sums in TF's order), clip, uint8
  truncation, center crop; only the cropped outputs are computed.

``tests/test_host_image.py`` compares every op with TF's output
(``tests/fixtures/host_image_tf_reference.npz``).
"""

from __future__ import annotations

import io
import threading

import numpy as np
from PIL import Image

INCEPTION_AREA = (0.05, 1.0)
INCEPTION_ASPECT = (3.0 / 4.0, 4.0 / 3.0)
INCEPTION_ATTEMPTS = 10
RESIZE_RATIO = 0.875
_F32 = np.float32


# --- decoding ----------------------------------------------------------------------------------


def decode_image(encoded: bytes, channels: int) -> np.ndarray:
    """Encoded image bytes -> uint8 (H, W, channels), ``channels`` 1 or 3.

    JPEGs decode to TF's ``decode_jpeg(channels, dct_method="INTEGER_ACCURATE")`` pixels (for
    ``channels=1`` libjpeg outputs the luma plane, as TF does). Other formats convert with PIL
    as TF's PNG decoder does: grey -> RGB repeats the plane, RGBA drops alpha, palettes
    expand, and colour -> grey uses libpng's fixed-point weights (:func:`_libpng_grey`).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    with Image.open(io.BytesIO(encoded)) as im:
        if im.format == "JPEG" and channels == 1:
            im.draft("L", im.size)  # libjpeg's own colour conversion (Y of YCbCr).
        im.load()
        mode = "L" if channels == 1 else "RGB"
        if channels == 1 and im.mode not in ("L", "LA", "1"):
            array = _libpng_grey(np.asarray(im.convert("RGB"), np.uint8))
        else:
            array = np.asarray(im if im.mode == mode else im.convert(mode), np.uint8)
    return array.reshape(array.shape[0], array.shape[1], channels)


def _libpng_grey(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> (H, W): libpng's ``png_set_rgb_to_gray(0.299, 0.587)`` in 8 bit,
    ``(9797 R + 19234 G + 3737 B) >> 15``."""
    weights = np.array([9797, 19234, 3737], np.uint32)
    return ((rgb.astype(np.uint32) @ weights) >> 15).astype(np.uint8)


# --- inception crop ----------------------------------------------------------------------------


def _crop_height_range(height: int, width: int, aspect: np.float32) -> tuple[int, int]:
    """The smallest and largest crop height for ``aspect`` (width / height), float32 as TF."""
    image_area = _F32(width) * _F32(height)
    min_area, max_area = _F32(INCEPTION_AREA[0]) * image_area, _F32(INCEPTION_AREA[1]) * image_area
    low = int(np.rint(np.sqrt(min_area / aspect)))
    high = int(np.rint(np.sqrt(max_area / aspect)))
    if int(np.rint(_F32(high) * aspect)) > width:  # Largest height whose width fits.
        high = int((width + 0.5 - 1e-7) / float(aspect))
        if int(np.rint(_F32(high) * aspect)) > width:
            high -= 1
    high = min(high, height)
    return min(low, high), high


def _try_window(height: int, width: int, aspect: np.float32, rng: np.random.Generator
                ) -> tuple[int, int, int, int] | None:
    """One attempt: a (top, left, h, w) window of area and aspect in range, or None."""
    image_area = _F32(width) * _F32(height)
    min_area, max_area = _F32(INCEPTION_AREA[0]) * image_area, _F32(INCEPTION_AREA[1]) * image_area
    low, high = _crop_height_range(height, width, aspect)
    h = low + int(rng.integers(0, high - low + 1))

    def area_of(h_: int) -> tuple[int, int]:
        w_ = int(np.rint(_F32(h_) * aspect))
        return w_, w_ * h_

    w, area = area_of(h)
    if area < min_area:  # Rounding: one row more or less.
        h += 1
        w, area = area_of(h)
    if area > max_area:
        h -= 1
        w, area = area_of(h)
    if not (min_area <= area <= max_area and 0 < w <= width and 0 < h <= height):
        return None
    top = int(rng.integers(0, height - h)) if h < height else 0
    left = int(rng.integers(0, width - w)) if w < width else 0
    return top, left, h, w


def inception_window(height: int, width: int, key_data: np.ndarray) -> tuple[int, int, int, int]:
    """The random window ``(top, left, h, w)`` of :func:`inception_crop` for an image of
    ``height x width`` and an example's uint32 (2,) key data.

    As TF's ``sample_distorted_bounding_box(min_object_covered=0, area_range=(0.05, 1),
    aspect_ratio_range=(3/4, 4/3), max_attempts=10, use_image_if_no_bounding_boxes=True)``:
    per attempt an aspect ratio uniform in the range, a height uniform among the integer
    heights whose area fits, the width rounded from it, an offset uniform in
    ``[0, side - crop)`` (TF's exclusive bound); the whole image when no attempt fits.
    """
    rng = np.random.default_rng(np.asarray(key_data, np.uint32))
    lo, hi = _F32(INCEPTION_ASPECT[0]), _F32(INCEPTION_ASPECT[1])
    for _ in range(INCEPTION_ATTEMPTS):
        aspect = rng.random(dtype=np.float32) * (hi - lo) + lo
        window = _try_window(height, width, aspect, rng)
        if window is not None:
            return window
    return 0, 0, height, width


def _bilinear_axis(n_in: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TF's half-pixel bilinear source indices (lower, upper, int64) and weights (float32)."""
    src = (np.arange(size, dtype=_F32) + _F32(0.5)) * _F32(n_in / size) - _F32(0.5)
    lower = np.floor(src)
    lo = np.clip(lower, 0, n_in - 1).astype(np.int64)
    hi = np.clip(np.ceil(src), 0, n_in - 1).astype(np.int64)
    return lo, hi, (src - lower).astype(_F32)


def resize_bilinear(image: np.ndarray, size: int,
                    window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """``tf.image.resize(image[window], [size, size], "bilinear", antialias=False)``.

    Args:
      image: (H, W, C) uint8 or float32.
      size: output side.
      window: ``(top, left, h, w)`` of the region to resize (default: the whole image); only
        the pixels the output reads are gathered.

    Returns:
      float32 (size, size, C).
    """
    return _resize_bilinear(image, size, window).copy()


def _resize_bilinear(image: np.ndarray, size: int,
                     window: tuple[int, int, int, int] | None) -> np.ndarray:
    """:func:`resize_bilinear` into this thread's scratch memory (valid until the next call)."""
    top, left, h, w = window if window is not None else (0, 0, *image.shape[:2])
    channels = image.shape[2]
    y_lo, y_hi, y_lerp = _bilinear_axis(h, size)
    x_lo, x_hi, x_lerp = _bilinear_axis(w, size)
    rows, inverse = np.unique(np.concatenate([y_lo, y_hi]), return_inverse=True)
    # Rows flattened to (R, W * C): every pass runs over long contiguous lines, and all
    # intermediates live in reused per-thread buffers (fresh ~1 MB arrays cost more in page
    # faults than the arithmetic).
    band = _rows(image, top + rows)
    a = _gather_columns(band, left + x_lo, channels, "a")
    b = _gather_columns(band, left + x_hi, channels, "b")
    b -= a
    b *= np.repeat(x_lerp, channels)[None]
    a += b  # TF's horizontal pass: a + (b - a) * x_lerp, (R, size * C).
    upper = np.take(a, inverse[:size], axis=0, out=_scratch("upper", (size, a.shape[1]), _F32))
    lower = np.take(a, inverse[size:], axis=0, out=_scratch("lower", (size, a.shape[1]), _F32))
    lower -= upper
    lower *= y_lerp[:, None]
    upper += lower
    return upper.reshape(size, size, channels)


_SCRATCH = threading.local()


def _scratch(slot: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A reused uninitialised array of ``shape`` for ``slot`` of the calling thread."""
    need = int(np.prod(shape))
    buf = getattr(_SCRATCH, slot, None)
    if buf is None or buf.size < need or buf.dtype != dtype:
        buf = np.empty(max(need, 1 << 16), dtype)
        setattr(_SCRATCH, slot, buf)
    return buf[:need].reshape(shape)


def _rows(image: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``image[rows]`` as (R, W * C) in scratch memory."""
    flat = image.reshape(image.shape[0], -1)
    return np.take(flat, rows, axis=0, out=_scratch("rows", (len(rows), flat.shape[1]),
                                                     image.dtype))


def _gather_columns(band: np.ndarray, columns: np.ndarray, channels: int, slot: str
                    ) -> np.ndarray:
    """float32 (R, len(columns) * C) in scratch ``slot``: pixels ``columns`` of every row."""
    flat = _flat_columns(columns, channels)
    picked = np.take(band, flat, axis=1, out=_scratch("pick", (len(band), len(flat)),
                                                      band.dtype))
    out = _scratch(slot, picked.shape, _F32)
    out[...] = picked
    return out


def _flat_columns(columns: np.ndarray, channels: int) -> np.ndarray:
    """Indices into rows flattened to (W * C) of every channel of ``columns``, (len * C,)."""
    return (columns[:, None] * channels + np.arange(channels)[None]).reshape(-1)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float -> uint8: round half to even, clip to [0, 255] (the stream's uint8 buffer)."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def inception_crop(image: np.ndarray, key_data: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W, C) -> uint8 (size, size, C): :func:`inception_window` of the image,
    bilinear-resized (:func:`resize_bilinear`) and rounded (:func:`to_uint8`)."""
    window = inception_window(image.shape[0], image.shape[1], key_data)
    out = _resize_bilinear(image, size, window)
    np.rint(out, out=out)
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


# --- evaluation resize -------------------------------------------------------------------------


def _area_axis(n_in: int, n_out: int, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (count, K) int64 and weights (count, K) float32 of TF's area resize
    for outputs ``first .. first + count - 1`` of an ``n_in -> n_out`` axis (unused taps:
    weight 0, which adds exactly 0.0)."""
    scale = _F32(n_in) / _F32(n_out)
    out = np.arange(first, first + count)
    start_f = out.astype(_F32) * scale
    end_f = (out + 1).astype(_F32) * scale
    start = np.floor(start_f).astype(np.int64)
    taps = int((np.ceil(end_f).astype(np.int64) - start).max())
    index = start[:, None] + np.arange(taps)[None]  # (count, K)
    i = index.astype(_F32)
    s, e = start_f[:, None], end_f[:, None]
    weight = np.where(i < s, np.where(i + 1 > e, scale, i + 1 - s),
                      np.where(i + 1 > e, e - i, _F32(1.0))).astype(_F32)
    weight[index >= np.ceil(end_f).astype(np.int64)[:, None]] = 0
    return np.clip(index, 0, n_in - 1), weight


def resize_area(image: np.ndarray, new_h: int, new_w: int,
                window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Outputs ``window`` = ``(top, left, h, w)`` (default: all) of
    ``tf.image.resize(image, [new_h, new_w], method="area", antialias=False)``: float32
    (h, w, C). Per output: float32 sum over the covered source columns of pixel x overlap,
    then over the covered rows of row sum x overlap, times ``1 / (row scale x column scale)``."""
    top, left, h, w = window if window is not None else (0, 0, new_h, new_w)
    channels = image.shape[2]
    y_idx, y_w = _area_axis(image.shape[0], new_h, top, h)
    x_idx, x_w = _area_axis(image.shape[1], new_w, left, w)
    rows, inverse = np.unique(y_idx, return_inverse=True)
    band = _rows(image, rows)  # (R, W * C)
    x_w = np.repeat(x_w, channels, axis=0)  # (w * C, K)
    across = _scratch("across", (len(rows), w * channels), _F32)
    across[...] = 0
    for k in range(x_idx.shape[1]):  # Column taps in TF's order.
        tap = _gather_columns(band, x_idx[:, k], channels, "a")
        tap *= x_w[None, :, k]
        across += tap
    inverse = inverse.reshape(y_idx.shape)
    out = np.zeros((h, w * channels), _F32)
    for j in range(y_idx.shape[1]):  # Row taps in TF's order.
        tap = np.take(across, inverse[:, j], axis=0, out=_scratch("b", out.shape, _F32))
        tap *= y_w[:, j, None]
        out += tap
    area = _F32(image.shape[0]) / _F32(new_h) * (_F32(image.shape[1]) / _F32(new_w))
    out *= _F32(1.0 / float(area))
    return out.reshape(h, w, channels)


def resize_center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Evaluation crop (big_vision ``resize_small`` + ``central_crop``, as
    :func:`gwa_jax.data.augment.resize_center_crop`): uint8 (H, W, C) -> uint8 (size, size, C).

    The shorter side goes to ``round(size / 0.875)`` (each side ``rint(side * factor)`` in
    float32, at least ``size``) by :func:`resize_area`; the values are clipped to [0, 255] and
    truncated to uint8; the center crop starts at ``(side - size) // 2``.
    """
    height, width = image.shape[:2]
    factor = _F32(round(size / RESIZE_RATIO)) / _F32(min(height, width))
    new_h = max(int(np.rint(_F32(height) * factor)), size)
    new_w = max(int(np.rint(_F32(width) * factor)), size)
    window = ((new_h - size) // 2, (new_w - size) // 2, size, size)
    return np.clip(resize_area(image, new_h, new_w, window), 0, 255).astype(np.uint8)
