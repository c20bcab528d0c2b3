"""``gwa-train``: run one experiment config.

    gwa-train --config configs/quickstart.py --workdir runs/quickstart
    gwa-train --config configs/fmnist_n.py:noise=0.4,model=vit --workdir runs/x \\
        --config.total_steps=2000 --config.batch_size=256

Bad input (unknown or mistyped config keys, impossible values, a missing dataset, a workdir
holding another config) ends with one ``gwa-train: error: ...`` line and exit code 2. A
non-finite loss stops the run with exit code 1 and names the step. Restarting the same
command resumes an interrupted run, or prints the summary of a finished one. Ctrl-C or
SIGTERM saves a mid-epoch checkpoint and exits with one line (a second Ctrl-C exits at once);
a second command in the same workdir exits 2 naming the first one's PID.

Also: ``--print_config`` (alias ``--dry_run``) validates, prints the resolved config and a
data/model summary and exits without training; ``--version``; absl's logging flags
(``--alsologtostderr``, ``--verbosity=1``, ``--log_dir``); ``--config.model.kwargs.KEY=VALUE``
sets any dataclass field of the model. ``python -m gwa_jax`` is ``gwa-train``.
"""

from __future__ import annotations

import json
import logging as std_logging
import os
import re
import sys

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

from gwa_jax.run.run_guard import USAGE_EXIT


class UsageError(Exception):
    """A command-line or config problem; the message is one line."""


def make_flag_values(argv: list[str] | None = None) -> flags.FlagValues:
    """A fresh flag registry for ``--config``, ``--workdir`` and ``--overwrite``.

    ``argv`` is where config_flags looks for ``--config.KEY=VALUE`` overrides.
    """
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", None, "Experiment config file, optionally with an argument: FILE.py[:ARG].",
        flag_values=fv, lock_config=True, sys_argv=argv)
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and scores.",
                        flag_values=fv)
    flags.DEFINE_bool("overwrite", False,
                      "Start afresh in a workdir that holds a run of a different config.",
                      flag_values=fv)
    return fv


def _one_line(text: str) -> str:
    return " ".join(str(text).replace("\\n", " ").replace("\\'", "'").split())


class _NotAConfigDict(Exception):
    """``get_config(arg)`` returned something other than a ConfigDict."""

    def __init__(self, value: object) -> None:
        super().__init__(type(value).__name__)
        self.value = value


class _DropNoneWarning(std_logging.Filter):
    """config_flags' own "get_config() returned None" warning: ours says it in one line."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return "get_config() returned None" not in str(record.msg)


def _config_file(argv: list[str]) -> str | None:
    """FILE of the last ``--config FILE.py[:ARG]`` in ``argv``; None when there is none."""
    value = None
    for i, arg in enumerate(argv):
        match = re.match(r"^--?config(=|$)", arg)
        if match and match.group(1):
            value = arg.split("=", 1)[1]
        elif match and i + 1 < len(argv):
            value = argv[i + 1]
    return value.split(":", 1)[0] if value else None


def _expect_config_dict(fv: flags.FlagValues) -> None:
    """Makes the ``--config`` flag raise :class:`_NotAConfigDict` when ``get_config`` returns
    anything but a ConfigDict (None, a dict), before overrides are applied to it."""
    parser = fv["config"].parser
    load = parser.parse

    def parse(argument: str) -> object:
        config = load(argument)
        if (not isinstance(config, ml_collections.ConfigDict)
                and type(config).__name__ != "_ErrorConfig"):  # A missing file: reported later.
            raise _NotAConfigDict(config)
        return config

    parser.parse = parse


def _not_a_config_dict(value: object, path: str | None) -> str:
    where = f"get_config(arg) in {path}"
    if value is None:
        return (f"{where} returned None; it should return an ml_collections.ConfigDict "
                f"(is its return statement missing?)")
    if isinstance(value, dict):
        return f"{where} returned a dict; wrap it in ml_collections.ConfigDict(...)"
    return (f"{where} returned {type(value).__name__}; it should return an "
            f"ml_collections.ConfigDict")


def _raised_in_config_file(err: BaseException, path: str | None) -> str | None:
    """``get_config raised ValueError: boom at FILE:LINE`` when ``err``, or an exception it
    was raised from, was raised inside the config file (deepest line of that file); an
    ``ArgError`` (a bad ``FILE.py:ARG``) keeps its own message. None otherwise."""
    if not path:
        return None
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.experiments.args import ArgError

    target = os.path.realpath(path)
    todo: list[BaseException | None] = [err]
    seen: set[int] = set()
    while todo:
        exc = todo.pop(0)
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        where = None
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if os.path.realpath(code.co_filename) == target:
                where = (tb.tb_lineno, code.co_name)
            tb = tb.tb_next
        if where is not None:
            text = _one_line(str(exc))
            if isinstance(exc, ArgError):
                return text
            who = "the config file" if where[1] == "<module>" else "get_config"
            return (f"{who} raised {type(exc).__name__}{': ' + text if text else ''} "
                    f"at {path}:{where[0]}")
        todo += [exc.__cause__, exc.__context__]
    return None


def parse_command_line(argv: list[str], num_devices: int | None = None,
                       check_files: bool = True
                       ) -> tuple[ml_collections.ConfigDict, str, bool]:
    """Parses and validates ``argv``; raises :class:`UsageError` with one line on bad input.

    ``num_devices`` (default: ``jax.device_count()``) is what ``batch_size`` must divide;
    ``check_files=False`` skips the checks of files on this machine (``dataset.data_dir``,
    ``model.init_from``), for a command that will run elsewhere (``gwa-sweep --dry-run``).

    Returns (config, workdir, overwrite).
    """
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.cli.train_config import set_model_kwargs, split_argv
    from gwa_jax.config_check import ConfigError, validate

    extras = split_argv(argv)  # absl flags, --print_config and model kwargs are not ours.
    argv = extras.config_argv
    path = _config_file(argv)
    sys.modules.pop("config_config", None)  # config_flags would re-run a stale module.
    fv = make_flag_values(argv)
    _expect_config_dict(fv)
    quiet = _DropNoneWarning()
    std_logging.getLogger("absl").addFilter(quiet)
    try:
        rest = fv(argv)
        config = fv["config"].value  # Loading the file and applying overrides happen here.
        if config is not None:
            config.to_dict()  # A config file that failed to load raises here.
    except _NotAConfigDict as err:
        raise UsageError(_not_a_config_dict(err.value, path)) from None
    except Exception as err:  # noqa: BLE001 - every failure below is bad input: one line.
        raise UsageError(_one_line(_load_failure(err, argv, path))) from None
    finally:
        std_logging.getLogger("absl").removeFilter(quiet)
    if len(rest) > 1:
        raise UsageError(f"unexpected arguments: {' '.join(rest[1:])}")
    if config is None or not fv["workdir"].value:
        raise UsageError("both --config FILE.py[:ARG] and --workdir DIR are required")
    set_model_kwargs(config, extras.model_kwargs)
    if num_devices is None:
        # A deliberate late import to keep start-up light: argument errors and --help answer before
        # the heavy modules load.
        import jax

        num_devices = jax.device_count()
    try:
        validate(config, num_devices, check_files=check_files)
    except ConfigError as err:
        raise UsageError(_one_line(str(err))) from None
    return config, fv["workdir"].value, bool(fv["overwrite"].value)


def _load_failure(err: Exception, argv: list[str], path: str | None) -> str:
    """One line for an exception of loading the config file or applying its overrides."""
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.config_check import unknown_key_message

    raised = _raised_in_config_file(err, path)
    if raised is not None:  # get_config(arg) (or the file's own code) raised.
        return raised
    if isinstance(err, flags.Error):
        text = str(err)
        if "Traceback" in text:  # Raised elsewhere: keep its own message, the last line.
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            text = "the config file's get_config(arg) failed: " + re.sub(
                r"^[\w.]+(Error|Exception): ", "", lines[-1])
        return _one_line(text.replace("flag --config.", "config."))
    if isinstance(err, AttributeError | KeyError):  # Unknown override key, or no get_config.
        if isinstance(err, AttributeError) and "get_config" in str(err):
            return ("the config file defines no get_config(arg); write one that returns a "
                    "ConfigDict, as in configs/quickstart.py")
        shown = err.args[0] if isinstance(err, KeyError) and err.args else err
        return unknown_key_message(argv) or f"unknown config key: {_one_line(shown)}"
    if isinstance(err, OSError | SyntaxError | ImportError):
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        return f"cannot load the config file: {lines[-1] if lines else err!r}"
    return f"bad config override: {_one_line(str(err)) or type(err).__name__}"


class _QuietLibraries(std_logging.Filter):
    """Keeps orbax INFO chatter out of the log; its warnings still pass."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def _fail(message: str, code: int = USAGE_EXIT) -> None:
    print(f"gwa-train: error: {_one_line(message)}", file=sys.stderr)
    sys.exit(code)


def _train(config: ml_collections.ConfigDict, workdir: str, overwrite: bool) -> int:
    if not flags.FLAGS["verbosity"].present:  # --verbosity / -v on the command line wins.
        logging.set_verbosity(logging.INFO)
    logging.get_absl_handler().addFilter(_QuietLibraries())
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.run.integrity import finished_run_damage
    from gwa_jax.run.run_files import read_json
    from gwa_jax.run.run_guard import RunError, guarded
    from gwa_jax.run.workdir import FINISHED
    from gwa_jax.train.trainer import NonFiniteError, print_selection_table, train_and_evaluate

    def body(state: str) -> int:
        if state == FINISHED and stopped_run_trains_on(config, workdir):
            logging.info("%s stopped early; criteria.early_stop differs now: training on",
                         workdir)
            state = "resume"
        damage = finished_run_damage(workdir) if state == FINISHED else None
        if state == FINISHED and damage is None:
            stopped = read_json(os.path.join(workdir, "summary.json")).get("stopped_early")
            if stopped:
                print(f"{workdir} stopped early after epoch {stopped['epoch']} "
                      f"(criteria.early_stop.patience={stopped['patience']}, criterion "
                      f"{stopped['criterion']}); the same patience: nothing to train. A larger "
                      f"patience, or 0, trains on.")
            print(f"{workdir} holds a finished run of this config; its selections:")
            print_selection_table(read_json(os.path.join(workdir, "summary.json")), workdir)
            return 0
        if damage:
            logging.warning("%s; rebuilding the run's files from its last checkpoint", damage)
        summary = train_and_evaluate(config, workdir)
        print_selection_table(summary, workdir)
        return 0

    try:
        return guarded(config, workdir, overwrite, body)
    except RunError as err:
        _fail(str(err), code=err.code)
    except NonFiniteError as err:
        _fail(str(err), code=1)
    return 1


def stopped_run_trains_on(config: ml_collections.ConfigDict, workdir: str) -> bool:
    """Whether ``workdir``'s finished run stopped early under another ``criteria.early_stop``
    than ``config``'s (it then resumes: a larger patience, or 0, trains on)."""
    try:
        with open(os.path.join(workdir, "summary.json")) as f:
            stopped = json.load(f).get("stopped_early")
    except (OSError, ValueError, AttributeError):
        return False
    if not isinstance(stopped, dict):
        return False
    stop = config.criteria.early_stop
    return (stopped.get("patience"), stopped.get("criterion")) != (stop.patience, stop.criterion)


def run(argv: list[str] | None = None) -> None:
    """The command. The console script is :func:`gwa_jax.cli.train.main`, which installs the signal
    handling and takes the workdir's lock before this module's imports, then calls this."""
    argv = list(sys.argv if argv is None else argv)
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.run import interrupt

    interrupt.install()  # First: SIGINT/SIGTERM never raise a traceback (or a segfault).
    if any(a in ("-h", "--help", "--helpshort", "--helpfull") for a in argv[1:]):
        print(__doc__)
        print(make_flag_values().get_help())
        sys.exit(0)
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.cli.train_config import describe_or_fail, split_argv

    extras = split_argv(argv)
    if extras.version:
        # A deliberate late import to keep start-up light: argument errors and --help answer before
        # the heavy modules load.
        from gwa_jax import __version__

        print(f"gwa-train (gwa-jax) {__version__}")
        sys.exit(0)
    if extras.dry_run and not any(a.startswith("--workdir") for a in argv):
        argv.append("--workdir=-")  # --print_config needs no workdir.
    # A deliberate late import to keep start-up light: argument errors and --help answer before the
    # heavy modules load.
    from gwa_jax.train.sharding import maybe_initialize_distributed

    maybe_initialize_distributed()
    try:
        config, workdir, overwrite = parse_command_line(argv)
    except UsageError as err:
        _fail(str(err))
    if extras.dry_run:
        sys.exit(describe_or_fail(config, _fail))
    app.run(lambda _: _train(config, workdir, overwrite), argv=argv[:1] + extras.absl_argv)


if __name__ == "__main__":
    run()
