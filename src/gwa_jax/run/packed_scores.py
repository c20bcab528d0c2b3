"""``scores.npz``: a run's per-sample alignment scores at a few epochs, packed small.

gwa-train writes one float32 array per epoch over the whole id space
(``alignment/epoch_NNNN.npy``, NaN for ids not trained) and ``alignment/meta.npz``. An
exported run folder keeps instead one ``scores.npz`` (written by
:func:`gwa_jax.experiments.scores_pack.pack_run`) holding only the trained ids:

* ``format``: :data:`FORMAT`; ``num_ids``: the length of the score arrays (the id space);
  ``meta_num_ids``: the length of the per-id arrays of ``meta.npz``;
* ``ids``: int32, the trained ids, sorted as in ``meta.npz``;
* ``by_id.<key>``: each per-id array of ``meta.npz`` (true_labels, train_labels,
  noise_mask, split) at those ids, in the smallest integer dtype that holds it, and
  ``dtype.<key>`` its original dtype;
* ``meta.<key>``: any other array of ``meta.npz``, unchanged;
* ``epochs``: int32 [E], the kept epochs, sorted; ``scores``: float16 [E, n_ids].

:func:`read_packed` returns them; :meth:`PackedScores.meta` and
:meth:`PackedScores.scores_at` rebuild the id-space arrays that the readers of
``alignment/`` get (``-1`` / ``False`` at ids not trained: only the trained ids' labels,
noise flags and splits are kept). The zip entries carry a fixed date, so packing the same
scores twice gives the same bytes (and the same checksum).

float16 keeps 11 significant bits (a relative step of at most 2**-11) and rounds
monotonically: two scores never swap order, at most they become equal, so a rank statistic
such as the mislabel AUROC changes only through new ties (each tied clean/mislabelled pair
moves it by 1 / (2 n_pos n_neg)).
"""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

SCORES_FILE = "scores.npz"
FORMAT = "gwa-jax packed scores v1"
FLOAT16_MAX = float(np.finfo(np.float16).max)
_DATE = (1980, 1, 1, 0, 0, 0)


class PackedScoresError(ValueError):
    """A ``scores.npz`` that is not what :func:`read_packed` expects; one line."""


def small_int_dtype(values: np.ndarray) -> np.dtype:
    """The smallest signed integer dtype (int8 ... int64) holding ``values`` and -1."""
    if values.size == 0:
        return np.dtype(np.int8)
    lo, hi = min(int(values.min()), -1), int(values.max())
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive (deflated, entries sorted, fixed dates: reproducible bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, np.asarray(arrays[key]), allow_pickle=False)
    return buf.getvalue()


def pack_arrays(meta: Mapping[str, np.ndarray], scores: Mapping[int, np.ndarray]
                ) -> dict[str, np.ndarray]:
    """The arrays of ``scores.npz`` from ``meta.npz``'s arrays and epoch -> id-space scores.

    Raises :class:`PackedScoresError` (one line) for a meta without ``ids``, score arrays of
    different lengths or too short for the ids, or a finite score beyond float16's range.
    """
    if "ids" not in meta:
        raise PackedScoresError("meta.npz has no 'ids'")
    ids = np.asarray(meta["ids"])
    if ids.ndim != 1 or (ids.size and (ids.dtype.kind not in "iu" or int(ids.min()) < 0)):
        raise PackedScoresError("meta.npz 'ids' is not a list of sample ids")
    top = int(ids.max()) + 1 if ids.size else 0
    if top > np.iinfo(np.int32).max:
        raise PackedScoresError(f"ids up to {top - 1} do not fit int32")
    epochs = sorted(int(e) for e in scores)
    lengths = {len(np.asarray(scores[e])) for e in epochs}
    if len(lengths) > 1:
        raise PackedScoresError(f"score arrays of different lengths {sorted(lengths)}")
    num_ids = lengths.pop() if lengths else top
    if num_ids < top:
        raise PackedScoresError(f"{num_ids} scores per epoch, but ids go up to {top - 1}")
    per_id = {k: np.asarray(v) for k, v in meta.items()
              if k != "ids" and np.ndim(v) == 1 and len(v) >= top and len(v) > 0}
    meta_lengths = {len(v) for v in per_id.values()}
    if len(meta_lengths) > 1:
        raise PackedScoresError(f"meta.npz per-id arrays of different lengths "
                                f"{sorted(meta_lengths)}")
    out: dict[str, np.ndarray] = {
        "format": np.array(FORMAT), "num_ids": np.array(num_ids, np.int64),
        "meta_num_ids": np.array(meta_lengths.pop() if meta_lengths else top, np.int64),
        "ids": ids.astype(np.int32), "epochs": np.array(epochs, np.int32)}
    for key, values in per_id.items():
        kept = values[ids]
        out[f"by_id.{key}"] = kept if kept.dtype.kind != "i" else kept.astype(
            small_int_dtype(kept))
        out[f"dtype.{key}"] = np.array(values.dtype.str)
    for key, values in meta.items():
        if key != "ids" and key not in per_id:
            out[f"meta.{key}"] = np.asarray(values)
    table = np.stack([np.asarray(scores[e], np.float32)[ids] for e in epochs]) if epochs else (
        np.zeros((0, len(ids)), np.float32))
    finite = table[np.isfinite(table)]
    if finite.size and float(np.abs(finite).max()) > FLOAT16_MAX:
        raise PackedScoresError(f"a score of magnitude {float(np.abs(finite).max()):.4g} does "
                                f"not fit float16 (max {FLOAT16_MAX:g})")
    out["scores"] = table.astype(np.float16)
    return out


@dataclasses.dataclass
class PackedScores:
    """The content of a ``scores.npz`` (see the module docstring)."""

    num_ids: int
    meta_num_ids: int
    ids: np.ndarray
    by_id: dict[str, np.ndarray]
    whole: dict[str, np.ndarray]
    dtypes: dict[str, str]
    epochs: list[int]
    scores: np.ndarray

    def meta(self) -> dict[str, np.ndarray]:
        """``meta.npz``'s arrays over the id space, in their original dtypes (ids int64;
        -1 in labels and splits, False in noise flags, at ids not trained)."""
        out: dict[str, np.ndarray] = {"ids": self.ids.astype(np.int64)}
        for key, kept in self.by_id.items():
            dtype = np.dtype(self.dtypes.get(key, kept.dtype))
            fill = {"i": -1, "f": np.nan}.get(dtype.kind, 0)
            full = np.full(self.meta_num_ids, fill, dtype)
            full[self.ids] = kept
            out[key] = full
        out.update(self.whole)
        return out

    def scores_at(self, epoch: int) -> np.ndarray | None:
        """float32 scores over the id space at ``epoch`` (NaN at ids not trained), or None
        when the epoch is not kept."""
        if epoch not in self.epochs:
            return None
        full = np.full(self.num_ids, np.nan, np.float32)
        full[self.ids] = self.scores[self.epochs.index(epoch)].astype(np.float32)
        return full


def read_packed(path: str | os.PathLike) -> PackedScores:
    """Reads ``scores.npz``; raises :class:`PackedScoresError` (one line naming the file)
    when it is not a packed scores file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, AttributeError) as err:
        raise PackedScoresError(f"{path} is not a packed scores file "
                                f"({type(err).__name__})") from None
    try:
        if str(arrays["format"]) != FORMAT:
            raise PackedScoresError(f"{path} has format {str(arrays['format'])!r}, not "
                                    f"{FORMAT!r}")
        ids, epochs, scores = arrays["ids"], arrays["epochs"], arrays["scores"]
        packed = PackedScores(
            num_ids=int(arrays["num_ids"]), meta_num_ids=int(arrays["meta_num_ids"]),
            ids=ids, epochs=[int(e) for e in epochs], scores=scores,
            by_id={k[6:]: v for k, v in arrays.items() if k.startswith("by_id.")},
            whole={k[5:]: v for k, v in arrays.items() if k.startswith("meta.")},
            dtypes={k[6:]: str(v) for k, v in arrays.items() if k.startswith("dtype.")})
    except KeyError as err:
        raise PackedScoresError(f"{path} is not a packed scores file (no {err})") from None
    top = int(ids.max()) + 1 if ids.size else 0
    if (scores.shape != (len(epochs), len(ids)) or packed.num_ids < top
            or any(len(v) != len(ids) for v in packed.by_id.values())):
        raise PackedScoresError(f"{path} is not a packed scores file (inconsistent shapes)")
    return packed
