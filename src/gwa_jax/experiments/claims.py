"""Generated write-up blocks and the paired tests behind comparative claims.

A write-up (``README.md``, ``results/*/README.md``) quotes numbers from committed run files
inside blocks that a generator writes::

    <!-- begin generated: quickstart-table -->
    ...text written by the generator "quickstart-table"...
    <!-- end generated: quickstart-table -->

``scripts/make_claims.py`` rewrites every block from the committed files (``--check`` lists
the blocks that differ and writes nothing); ``tests/test_claims.py`` runs the check, so a
number in a block cannot drift from the files it comes from. A generator ``fn(root) ->
markdown`` is registered under its block's name by :func:`generator`; they live in
:mod:`gwa_jax.experiments.writeups` (and the modules it imports), whose ``generators(root)``
binds them to a repository root.

A comparative claim ("GWA beats the last epoch") states its paired test: per unit (a seed, or
a stated pooled unit such as a (noise, seed) pair), the difference of the two criteria's test
accuracies; the two-sided sign test over the units that differ (``scipy.stats.binomtest``)
and the two-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, zero differences
dropped). :func:`verdict` turns that into the words a write-up may use.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import stats

BEGIN = "<!-- begin generated: {name} -->"
END = "<!-- end generated: {name} -->"
_BLOCK = re.compile(r"<!-- begin generated: (?P<name>[\w.-]+) -->\n(?P<body>.*?)"
                    r"<!-- end generated: (?P=name) -->", re.S)
_MARK = re.compile(r"<!-- (begin|end) generated: ([\w.-]+) -->")
#: Two-sided level below which a paired test's difference is called significant.
ALPHA = 0.05

Generator = Callable[[Path], str]
#: Block name -> its generator (filled by :func:`generator`).
GENERATORS: dict[str, Generator] = {}


def generator(name: str) -> Callable[[Generator], Generator]:
    """Registers ``fn(root) -> markdown`` as the generator of block ``name``."""
    def register(fn: Generator) -> Generator:
        GENERATORS[name] = fn
        return fn
    return register


class BlockError(ValueError):
    """A write-up's markers are malformed or name no generator."""


def block_names(text: str) -> list[str]:
    """Names of the generated blocks in ``text``, in order; raises :class:`BlockError` on an
    unmatched, nested or repeated marker."""
    names, open_name = [], None
    for m in _MARK.finditer(text):
        kind, name = m.groups()
        if kind == "begin":
            if open_name is not None:
                raise BlockError(f"block {name!r} begins inside block {open_name!r}")
            if name in names:
                raise BlockError(f"block {name!r} appears twice")
            open_name = name
        else:
            if open_name != name:
                raise BlockError(f"'end generated: {name}' without its begin marker")
            names.append(name)
            open_name = None
    if open_name is not None:
        raise BlockError(f"block {open_name!r} has no 'end generated' marker")
    return names


def render_blocks(text: str, generators: Mapping[str, Callable[[], str]]) -> str:
    """``text`` with the body of every generated block replaced by its generator's output
    (a trailing newline is added when missing)."""
    missing = [n for n in block_names(text) if n not in generators]
    if missing:
        raise BlockError(f"no generator for block(s) {', '.join(missing)}")

    def body(m: re.Match) -> str:
        name = m.group("name")
        out = generators[name]()
        out = out if out.endswith("\n") else out + "\n"
        return f"{BEGIN.format(name=name)}\n{out}{END.format(name=name)}"

    return _BLOCK.sub(body, text)


def changed_blocks(old: str, new: str) -> list[str]:
    """Names of the blocks whose bodies differ between two renderings of one write-up."""
    a = {m.group("name"): m.group("body") for m in _BLOCK.finditer(old)}
    b = {m.group("name"): m.group("body") for m in _BLOCK.finditer(new)}
    return [n for n in b if a.get(n) != b[n]]


# --- paired tests ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PairedTest:
    """Paired comparison of ``a`` against ``b`` over ``n`` units (differences ``a - b``)."""

    n: int
    ahead: int
    level: int
    behind: int
    mean_diff: float
    sign_p: float
    wilcoxon_p: float

    @property
    def p(self) -> float:
        """The larger of the two p-values: a claim must hold under both tests."""
        return max(self.sign_p, self.wilcoxon_p)

    @property
    def significant(self) -> bool:
        return self.p < ALPHA


def paired_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Two-sided sign and Wilcoxon signed-rank tests of ``a - b`` (shapes ``[n]``, paired by
    position). Differences of exactly 0 are "level" and dropped from both tests; with no
    nonzero difference both p-values are 1."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"paired_test needs two equal-length 1-d sequences, got {a.shape} "
                         f"and {b.shape}")
    d = np.round(a - b, 10)  # accuracies in points: exact ties stay ties
    ahead, behind = int((d > 0).sum()), int((d < 0).sum())
    nonzero = d[d != 0]
    if len(nonzero):
        sign_p = float(stats.binomtest(ahead, ahead + behind, 0.5).pvalue)
        wilcoxon_p = float(stats.wilcoxon(nonzero).pvalue)
    else:
        sign_p = wilcoxon_p = 1.0
    return PairedTest(len(d), ahead, len(d) - ahead - behind, behind, float(d.mean()),
                      sign_p, wilcoxon_p)


def fmt_diff(x: float) -> str:
    """A signed difference in points with 2 decimals, never ``-0.00``."""
    return f"{(round(x, 2) or 0.0):+.2f}"


def fmt_p(p: float) -> str:
    """A p-value with 2 significant digits (``0.031``, ``0.0063``, ``1``)."""
    return "1" if p >= 0.995 else f"{p:.2g}"


def verdict(t: PairedTest, a: str, b: str, unit: str) -> str:
    """One sentence: direction, mean difference, counts and both p-values over ``t.n`` units,
    e.g. ``GWA ahead of last: +1.20 points on average, ahead/level/behind 5/0/1 over 6 seeds,
    sign test p = 0.22, Wilcoxon p = 0.16: not significant``."""
    if t.significant:
        word = "ahead of" if t.mean_diff > 0 else "behind"
        head = f"{a} {word} {b}"
        tail = f"significant (p < {ALPHA:g}, two-sided)"
    else:
        head = f"{a} vs {b}"
        tail = "not significant"
    return (f"{head}: {fmt_diff(t.mean_diff)} points on average, ahead/level/behind "
            f"{t.ahead}/{t.level}/{t.behind} over {t.n} {unit}, sign test p = "
            f"{fmt_p(t.sign_p)}, Wilcoxon p = {fmt_p(t.wilcoxon_p)}: {tail}")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def paired_rows(pairs: Sequence[tuple[str, Sequence[float], Sequence[float]]],
                a: str, b: str, unit: str) -> str:
    """A markdown table of paired tests, one row per ``(label, a_values, b_values)``: n, mean
    difference, ahead/level/behind, sign and Wilcoxon p, and the verdict."""
    rows = []
    for label, xa, xb in pairs:
        t = paired_test(xa, xb)
        words = verdict(t, a, b, unit).split(": ")[-1]
        rows.append([label, str(t.n), fmt_diff(t.mean_diff), f"{t.ahead}/{t.level}/{t.behind}",
                     f"{t.sign_p:.2g}", f"{t.wilcoxon_p:.2g}", words])
    return md_table(["units", "n", f"{a} - {b} [points]", "ahead/level/behind", "sign p",
                     "Wilcoxon p", "verdict"], rows)


def missing_note(missing: Mapping[str, tuple[int, int]]) -> str:
    """The line that lists the comparisons left out because not all their planned runs are
    committed: ``{label: (runs committed, runs planned)}``; "" when none is."""
    if not missing:
        return ""
    return "Not compared until all their runs are committed: " + "; ".join(
        f"{label} ({have} of {planned} runs)" for label, (have, planned) in missing.items()) + "."
