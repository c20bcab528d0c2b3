"""Writing a table (and its companions) to ``results/<name>/`` as Markdown, CSV and LaTeX.

For a table over runs (``table1*``, ``table2``, ``table3``, ``table5``, ``fmnist_n*``) the
directory gets ``<name>.md/.csv/.tex`` (``table1.*`` for the offline reproductions;
``*_relative.*`` in relative mode), and for the Table 1 style tables also
``fig3_correlation.*`` (Pearson / Spearman of the max mean alignment vs the final test
accuracy across runs), ``runs_overview.*`` (per 0%-split run: undefined GWA epochs, minimum
kurtosis, each criterion's epoch, the best epoch in hindsight), ``mislabel_auroc.*``
(noisy variants only) and ``online_offline.*`` (Fig. 6 in numbers, from the offline-estimator
runs). ``table4`` is printed from the config files. ``command.txt`` records the command line.
"""

from __future__ import annotations

import os
from pathlib import Path

from gwa_jax.experiments import tables as T
from gwa_jax.experiments.plan import expand
from gwa_jax.experiments.results import RunResult
from gwa_jax.experiments.run_table import NoFinishedRuns

RUN_TABLES = ("table1_cifar10", "table1_imagenet", "table1", "table2", "table3", "table5",
              "fmnist_n", "fmnist_n_asym", "finetune_fmnist")
ALL_TABLES = (*RUN_TABLES, "table4")
#: Tables that get the Fig. 3 correlation and the mislabel-detection AUROC.
WITH_EXTRAS = ("table1_cifar10", "table1", "fmnist_n", "fmnist_n_asym", "finetune_fmnist")


# The offline reproductions are laid out like the paper's Table 1.
FILE_STEMS = {"fmnist_n": "table1", "fmnist_n_asym": "table1"}


def _write(directory: Path, stem: str, md: str, csv_text: str, tex: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, text in ((".md", md), (".csv", csv_text), (".tex", tex)):
        path = directory / f"{stem}{suffix}"
        path.write_text(text)
        paths.append(path)
    return paths


def make_table(name: str, root: str | os.PathLike, out: str | os.PathLike, *,
               relative: bool = False, gd: str = "gd",
               configs_dir: str | os.PathLike | None = None,
               command: str | None = None) -> list[Path]:
    """Builds table ``name`` from the runs under ``root``; returns the files written to
    ``out/<name>/``.

    Raises:
      NoFinishedRuns: the table's plan has no finished run under ``root`` (one line naming
        the sweep command); nothing is written.
    """
    directory = Path(out) / name
    written: list[Path] = []
    if name == "table4":
        if configs_dir is None:
            raise ValueError("table4 needs the configs directory")
        header, rows = T.table4(configs_dir)
        title = "Table 4: training hyperparameters, read from the config files"
        written += _write(directory, name, T.grid_markdown(title, header, rows, command=command),
                          T.grid_csv(header, rows), T.grid_latex(title, header, rows))
    else:
        spec = T.table_specs(gd)[name]
        results, planned = T.collect(spec.plan, root)
        if not results and not any((r.result_dir(root) / "summary.json").exists()
                                   for r in expand(spec.plan)):
            raise NoFinishedRuns(f"{name}: no finished run of {spec.plan} under {root} (run: "
                                 f"python scripts/sweep.py {spec.plan} --root {root}; for runs "
                                 f"of your own config use gwa-report)")
        relative = relative or spec.always_relative
        cells = T.build_cells(spec, results, planned)
        base = FILE_STEMS.get(name, name)
        stem = f"{base}_relative" if relative and not spec.always_relative else base
        written += _write(directory, stem, T.to_markdown(spec, cells, relative, command),
                          T.to_csv(spec, cells, relative), T.to_latex(spec, cells, relative))
        if name in WITH_EXTRAS and results:
            written += _extras(spec, results, planned, directory, command)
        if name in WITH_EXTRAS:
            written += _online_offline(spec.plan, root, directory, command)
    if command:
        (directory / "command.txt").write_text(command + "\n")
        written.append(directory / "command.txt")
    return written


def _online_offline(plan: str, root: str | os.PathLike, directory: Path,
                    command: str | None) -> list[Path]:
    """``online_offline.*``: Fig. 6 in numbers, from the plan's offline-estimator runs."""
    loaded = [(run.model, RunResult.load_verified(run.result_dir(root))) for run in expand(plan)
              if run.role == "fig6"]
    header, rows = T.online_offline_rows([(m, r) for m, r in loaded if r is not None])
    if not rows:
        return []
    title = "Fig. 6: online (Alg. 1) vs offline GWA, correlation over epochs"
    notes = ["Offline: all training samples scored at the epoch's final weights."]
    return _write(directory, "online_offline", T.grid_markdown(title, header, rows, notes,
                                                                 command),
                  T.grid_csv(header, rows), T.grid_latex(title, header, rows))


def _extras(spec: T.TableSpec, results: dict, planned: dict, directory: Path,
            command: str | None) -> list[Path]:
    written = []
    header, rows, _ = T.correlation_rows(results)
    if rows:
        title = ("Fig. 3: correlation of max mean alignment with final test accuracy [%] "
                 "across runs")
        notes = ["Every finished run of the table (all splits and seeds); final = last epoch."]
        written += _write(directory, "fig3_correlation",
                          T.grid_markdown(title, header, rows, notes, command),
                          T.grid_csv(header, rows), T.grid_latex(title, header, rows))
    header, rows = T.run_overview_rows(spec, results)
    if rows:
        title = "Per run (0% split): undefined GWA epochs, kurtosis and each criterion's stop"
        notes = ["GWA is undefined (NaN) in an epoch whose excess kurtosis + beta <= eps; the "
                 "GWA criterion skips those epochs.",
                 "Best epoch: highest test accuracy in hindsight (no criterion can see it).",
                 "GWA within 1 SE: epochs (the selected one included) whose GWA is at least the "
                 "selected GWA minus its bootstrap standard error (gwa_se); 1 = a clear "
                 "maximum, more = the maximum is within noise. - where gwa_se is missing."]
        written += _write(directory, "runs_overview",
                          T.grid_markdown(title, header, rows, notes, command),
                          T.grid_csv(header, rows), T.grid_latex(title, header, rows))
    aspec = T.auroc_spec(spec, results)
    if aspec is not None:
        cells = T.build_cells(aspec, results, planned)
        written += _write(directory, "mislabel_auroc", T.to_markdown(aspec, cells, False,
                                                                      command),
                          T.to_csv(aspec, cells), T.to_latex(aspec, cells))
    return written
