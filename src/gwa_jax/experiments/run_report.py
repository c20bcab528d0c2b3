"""Writing the tables and figures of any run folder (``gwa-report``).

For a root of runs (or a single run) and an output directory:

* ``runs.{md,csv,tex}``: :func:`~gwa_jax.experiments.run_table.per_run_rows`;
* ``by_<key>[_<key>].{md,csv,tex}`` with ``by``: the same grouped by those keys, mean ± std
  over runs (:func:`~gwa_jax.experiments.run_table.grouped_rows`);
* ``figures/<run>/fig2_training_curves.png`` (LabelWave and GWA over training, each stop
  marked, score distributions) and ``fig16_clean_vs_mislabelled.png`` (runs with label
  noise) per run, and ``figures/fig3_alignment_vs_accuracy.png`` across runs;
* ``paper_comparison.md`` when the runs are (part of) a sweep of a paper table
  (``scripts/sweep.py table1_cifar10`` ...): each of our cells beside the paper's number,
  ``|ours - paper|`` and whether it exceeds the paper's spread, also printed
  (:mod:`~gwa_jax.experiments.paper_compare`, as ``scripts/make_tables.py`` writes it);
* ``command.txt``: the command line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from gwa_jax.experiments import tables as T
from gwa_jax.experiments.paper_compare import PAPER_FILE, detect_paper_sweeps, paper_comparison
from gwa_jax.experiments.run_table import (
    Run,
    grouped_rows,
    load_runs_or_fail,
    per_run_rows,
)
from gwa_jax.run.run_format import older_runs_note

NOTES = ["Best epoch: highest test accuracy in hindsight (no criterion can see it); regret = "
         "best test accuracy - test accuracy at the criterion's stop."]


def _write(directory: Path, stem: str, title: str, header: list[str], rows: list[list[str]],
           notes: Sequence[str], command: str | None) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for suffix, text in ((".md", T.grid_markdown(title, header, rows, notes, command)),
                         (".csv", T.grid_csv(header, rows)),
                         (".tex", T.grid_latex(title, header, rows))):
        path = directory / f"{stem}{suffix}"
        path.write_text(text)
        out.append(path)
    return out


def write_tables(runs: Sequence[Run], out: str | os.PathLike, by: Sequence[str] = (),
                 metric: str = "test_acc", command: str | None = None) -> list[Path]:
    """``runs.*`` and, with ``by``, ``by_<keys>.*`` under ``out``; returns the paths."""
    out = Path(out)
    header, rows = per_run_rows(runs, by, metric=metric)
    written = _write(out, "runs", f"Each criterion's stop per run ({metric})", header, rows,
                     NOTES, command)
    if by:
        header, rows = grouped_rows(runs, by, metric=metric)
        stem = "by_" + "_".join(re.sub(r"[^A-Za-z0-9_]+", "-", k.removeprefix("config."))
                                for k in by)
        written += _write(out, stem, f"Each criterion's stop, grouped by {', '.join(by)} "
                                     f"(mean ± std over runs)", header, rows, NOTES, command)
    return written


def write_figures(runs: Sequence[Run], out: str | os.PathLike, by: Sequence[str] = (),
                  log: Callable[[str], None] = print) -> list[Path]:
    """Fig. 2 and Fig. 16 per run, Fig. 3 across runs, under ``out/figures``; a figure whose
    input is missing is skipped with one line through ``log``."""
    # A deliberate late import to keep start-up light: only this path needs the data, plotting or
    # training modules.
    from gwa_jax.experiments.figures import MissingInput, fig2, fig3, fig16

    directory = Path(out) / "figures"
    written: list[Path] = []

    def attempt(what: str, fn: Callable[..., Path], *args) -> None:
        try:
            path = fn(*args)
        except MissingInput as err:
            log(f"{what}: skipped ({err})")
            return
        written.append(path)
        log(f"{what}: wrote {path}")

    single = len(runs) == 1
    for run in runs:
        folder = directory if single else directory / run.name.replace(os.sep, "__")
        attempt(f"{run.name} fig2", fig2, run.result, None, folder / "fig2_training_curves.png")
        if run.result.noisy():
            attempt(f"{run.name} fig16", fig16, run.result,
                    folder / "fig16_clean_vs_mislabelled.png")
    if not single:
        def model(r: Run) -> str:
            return str(r.key("model.name") or "?")

        def group(r: Run) -> str:
            return ", ".join(f"{k}={r.key(k)}" for k in by) or "runs"

        attempt("fig3", fig3, [(model(r), group(r), r.result) for r in runs],
                directory / "fig3_alignment_vs_accuracy.png")
    return written


def write_paper_comparison(runs: Sequence[Run], out: str | os.PathLike,
                           command: str | None = None,
                           log: Callable[[str], None] = print) -> list[Path]:
    """``out/paper_comparison.md`` (also logged) when ``runs`` hold runs of a paper table:
    one section per table found (:func:`~gwa_jax.experiments.paper_compare
    .detect_paper_sweeps`), each over the runs of ``runs`` only; nothing when they hold none.
    """
    sweeps = detect_paper_sweeps(run.result.workdir for run in runs)
    if not sweeps:
        return []
    text = "\n".join(paper_comparison(s.family, s.root, command=command, workdirs=s.workdirs)
                     for s in sweeps)
    path = Path(out) / PAPER_FILE
    path.write_text(text)
    log(f"{', '.join(s.family for s in sweeps)}: wrote {path}\n\n{text}")
    return [path]


def make_report(path: str | os.PathLike, out: str | os.PathLike, *, by: Sequence[str] = (),
                figures: bool = True, metric: str = "test_acc", command: str | None = None,
                paper: bool = True, log: Callable[[str], None] = print) -> list[Path]:
    """Tables (and figures) of the finished runs at or below ``path``, written to ``out``;
    with ``paper``, runs of a paper table also get ``paper_comparison.md``
    (:func:`write_paper_comparison`).

    Raises:
      NoFinishedRuns: nothing finished under ``path`` (one line).
    """
    runs = load_runs_or_fail(path)
    missing = [k for k in by if all(r.key(k) is None for r in runs)]
    if missing:
        raise KeyError(f"--by {missing[0]!r} is neither a grid key of {path}/sweep.json nor a "
                       f"config.json key of its runs (e.g. seed, dataset.label_noise.rate)")
    written = write_tables(runs, out, by, metric, command)
    md = ", ".join(str(p) for p in written if p.suffix == ".md")
    log(f"{len(runs)} finished run(s): wrote {md} (+ .csv, .tex)")
    note = older_runs_note([r.result.format_version for r in runs])
    if note:
        log(note)
    if paper:
        written += write_paper_comparison(runs, out, command, log)
    if figures:
        written += write_figures(runs, out, by, log)
    if command:
        (Path(out) / "command.txt").write_text(command + "\n")
        written.append(Path(out) / "command.txt")
    return written
