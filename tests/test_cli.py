"""Command-line parsing and config validation: one clear line for every kind of bad input."""

import os
import re
import subprocess
import sys
from pathlib import Path

import ml_collections
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwa_jax.cli.train_run import UsageError, parse_command_line
from gwa_jax.config_base import default_config
from gwa_jax.config_check import ConfigError, check_against_data, validate

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / "configs" / "quickstart.py")


def parse(*overrides, devices=1):
    return parse_command_line(["gwa-train", f"--config={QUICKSTART}", "--workdir=/tmp/w",
                               *overrides], num_devices=devices)


def test_valid_command_line():
    config, workdir, overwrite = parse("--config.total_steps=40", "--overwrite")
    assert config.total_steps == 40 and workdir == "/tmp/w" and overwrite


@pytest.mark.parametrize("override,pattern", [
    ("--config.batch_sise=3", "unknown config key: batch_sise; did you mean \"batch_size\""),
    ("--config.optim.nme=adam", "did you mean \"optim.name\""),
    ("--config.batch_size=abc", "config.batch_size=abc: invalid literal"),
    ("--config.dataset.val_fraction=0.7", r"val_fraction must be in \[0, 0.5\]"),
    ("--config.dataset.val_fraction=-0.1", r"val_fraction must be in \[0, 0.5\]"),
    ("--config.model.name=resnet", "unknown model 'resnet'; choose one of .*vit_fmnist"),
    ("--config.dataset.name=mnist", "unknown dataset 'mnist'; choose one of .*fashion_mnist"),
    ("--config.batch_size=0", "batch_size must be positive"),
    ("--config.dataset.label_key=worse_label", "label_key 'worse_label' is not valid for "
                                                 "fashion_mnist"),
    ("--config.dataset.name=imagenet_v2", "test-only dataset"),
    ("--config.optim.name=lion", "unknown optim.name 'lion'"),
    ("--config.dataset.label_noise.rate=1.5", r"rate must be in \[0, 1\)"),
    ("--config.dataset.label_noise.kind=pairflip", "kind must be none/symmetric/asymmetric"),
])
def test_bad_overrides_give_one_line(override, pattern):
    with pytest.raises(UsageError, match=pattern) as info:
        parse(override)
    assert "\n" not in str(info.value)


def test_bad_config_argument_is_one_line_without_traceback():
    with pytest.raises(UsageError) as info:
        parse_command_line(["gwa-train", f"--config={ROOT / 'configs' / 'fmnist_n.py'}:modle=vit",
                            "--workdir=/tmp/w"], 1)
    message = str(info.value)
    assert "Traceback" not in message and "\n" not in message
    assert "modle" in message and "model" in message


def test_batch_not_divisible_by_devices():
    with pytest.raises(UsageError, match="not divisible by the 3 devices"):
        parse("--config.batch_size=128", devices=3)


def test_missing_config_file_and_missing_flags():
    with pytest.raises(UsageError, match="No such file"):
        parse_command_line(["gwa-train", "--config=configs/nope.py", "--workdir=/tmp/w"], 1)
    with pytest.raises(UsageError, match="both --config"):
        parse_command_line(["gwa-train", f"--config={QUICKSTART}"], 1)
    with pytest.raises(UsageError, match="unexpected arguments"):
        parse_command_line(["gwa-train", f"--config={QUICKSTART}", "--workdir=/w", "extra"], 1)


def test_schema_rejects_unknown_keys_and_wrong_types():
    c = default_config()
    c.unlock()
    c.dataset.val_fracton = 0.1
    with pytest.raises(ConfigError, match="did you mean 'dataset.val_fraction'"):
        validate(c)
    c = default_config()
    c.gwa.beta = 1  # An int where a float is expected is fine.
    validate(c)
    raw = default_config().to_dict()
    raw["gwa"]["enabled"] = "yes"  # A config file may build its ConfigDict from a plain dict.
    with pytest.raises(ConfigError, match="gwa.enabled must be bool"):
        validate(ml_collections.ConfigDict(raw))


def test_total_steps_shorter_than_an_epoch():
    c = default_config()
    c.total_steps = 10
    with pytest.raises(ConfigError, match="shorter than one epoch"):
        check_against_data(c, steps_per_epoch=50, num_train=6400)
    check_against_data(c, steps_per_epoch=10, num_train=1280)


KEYS = sorted(k for k in ("seed total_steps batch_size eval_batch_size dataset.name "
                          "dataset.val_fraction dataset.train_subset dataset.label_noise.rate "
                          "dataset.label_noise.kind model.name model.dtype optim.lr optim.name "
                          "optim.schedule gwa.beta gwa.jlt_dim augment.crop augment.mixup "
                          "criteria.gd.enabled").split())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.one_of(st.sampled_from(KEYS), st.text(min_size=0, max_size=12)),
       value=st.one_of(st.text(max_size=12), st.integers(-5, 10**6).map(str),
                       st.floats(allow_nan=True).map(str),
                       st.sampled_from(["None", "True", "()", "[1,2]", "vit_s16", "0.5"])))
def test_random_overrides_never_raise_a_traceback(key, value):
    """Any override is either accepted (and then valid) or rejected with one line."""
    try:
        config, _, _ = parse(f"--config.{key}={value}")
    except UsageError as err:
        assert str(err) and "\n" not in str(err)
        return
    validate(config)  # Accepted configs are valid.


def test_cli_process_prints_one_line_and_exits_2(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "gwa-train")
    proc = subprocess.run([exe, f"--config={QUICKSTART}", f"--workdir={tmp_path}",
                           "--config.dataset.val_fraction=0.9"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("gwa-train:")]
    assert lines == ["gwa-train: error: config.dataset.val_fraction must be in [0, 0.5], got 0.9"]
    assert "Traceback" not in proc.stderr


# --- Every bad input: one ``gwa-train: error:`` line, exit 2, the workdir as it was --------

SMOKE = ["--config.total_steps=40", "--config.dataset.train_subset=1000",
         "--config.batch_size=100"]


def gwa_train(args, capsys):
    """The CLI's parse-then-train path in this process; returns (exit code, stderr lines)."""
    from absl import logging

    from gwa_jax.cli import train_run as cli

    sys.modules.pop("config_config", None)  # config_flags reuses the last config module.
    capsys.readouterr()
    import logging as std_logging

    # Handlers made under an earlier test's capture would write to its closed stream.
    logging.get_absl_handler().python_handler.stream = sys.stderr
    for handler in std_logging.getLogger().handlers:
        if type(handler) is std_logging.StreamHandler:  # Not pytest's own handlers.
            handler.stream = sys.stderr
    try:
        config, workdir, overwrite = parse_command_line(["gwa-train", *args], num_devices=1)
        code = cli._train(config, workdir, overwrite)
    except UsageError as err:
        print(f"gwa-train: error: {err}", file=sys.stderr)
        code = 2
    except SystemExit as err:
        code = err.code
    return code, capsys.readouterr().err.splitlines()


def fmnist_copy(tmp_path, damage):
    """The four Fashion-MNIST files, one of them damaged (garbage or truncated gzip)."""
    src = Path("/usr/share/datasets/fashion-mnist")
    out = tmp_path / "fmnist"
    out.mkdir()
    for name in os.listdir(src):
        data = (src / name).read_bytes()
        if name.startswith("train-labels"):
            data = os.urandom(200) if damage == "garbage" else data[: len(data) // 2]
        (out / name).write_bytes(data)
    return out


def write_config(tmp_path, body):
    path = tmp_path / "cfg.py"
    path.write_text(body)
    return path


BAD_INPUTS = {
    # name: (setup(tmp_path) -> (argv, workdir), expected message regex)
    "workdir-is-a-file": (lambda t: ([f"--workdir={t / 'f'}"], t / "f"),
                          r"--workdir .*/f is a file, not a directory; choose another"),
    "workdir-under-a-file": (lambda t: ([f"--workdir={t / 'f' / 'run'}"], t / "f"),
                             r"cannot create or write --workdir .*/f/run \(Not a directory\)"),
    "workdir-under-proc": (lambda t: (["--workdir=/proc/gwa-run"], None),
                           r"cannot create or write --workdir /proc/gwa-run"),
    "fmnist-garbage-gz": (lambda t: ([f"--workdir={t / 'w'}", "--config.dataset.data_dir="
                                      f"{fmnist_copy(t, 'garbage')}"], t / "w"),
                          r"train-labels-idx1-ubyte.gz is damaged or truncated .*reinstall"),
    "fmnist-truncated-gz": (lambda t: ([f"--workdir={t / 'w'}", "--config.dataset.data_dir="
                                        f"{fmnist_copy(t, 'truncated')}"], t / "w"),
                            r"train-labels-idx1-ubyte.gz is damaged or truncated"),
    "init-from-missing": (lambda t: ([f"--workdir={t / 'w'}",
                                      "--config.model.init_from=/nonexistent/augreg.npz"], None),
                          r"config.model.init_from '/nonexistent/augreg.npz' is not a file"),
    "image-size-negative": (lambda t: ([f"--workdir={t / 'w'}",
                                        "--config.dataset.image_size=-5"], None),
                            r"config.dataset.image_size must be positive or None"),
    "data-dir-nonexistent": (lambda t: ([f"--workdir={t / 'w'}",
                                         "--config.dataset.data_dir=/nonexistent"], None),
                             r"config.dataset.data_dir '/nonexistent' is not a directory"),
    "data-dir-empty": (lambda t: ([f"--workdir={t / 'w'}", "--config.dataset.data_dir="], None),
                       r"config.dataset.data_dir '' is not a directory"),
    "data-dir-without-the-files": (lambda t: ([f"--workdir={t / 'w'}",
                                               f"--config.dataset.data_dir={t}"], t / "w"),
                                   r"Fashion-MNIST idx files not found \(looked in /"),
    "beta-inf": (lambda t: ([f"--workdir={t / 'w'}", "--config.gwa.beta=inf"], None),
                 r"config.gwa.beta must be a finite number, got inf"),
    "lr-nan": (lambda t: ([f"--workdir={t / 'w'}", "--config.optim.lr=nan"], None),
               r"config.optim.lr must be a finite number, got nan"),
    "ignored-config-argument": (lambda t: ([f"--workdir={t / 'w'}",
                                            f"--config={QUICKSTART}:whatever"], None),
                                r"quickstart.py takes no argument, got 'whatever'"),
    "jlt-dim-too-large": (lambda t: ([f"--workdir={t / 'w'}", "--config.gwa.jlt_dim=100000"],
                                     t / "w"),
                          r"config.gwa.jlt_dim=100000 is not below the model's latent width"),
    "warmup-beyond-total-steps": (lambda t: ([f"--workdir={t / 'w'}",
                                              "--config.optim.warmup_steps=50"], None),
                                  r"warmup_steps=50 is not below total_steps=40"),
    "unknown-key": (lambda t: ([f"--workdir={t / 'w'}", "--config.foo=1"], None),
                    r"unknown config key: foo; the valid keys are in src/gwa_jax/config_base"),
    "unknown-nested-key": (lambda t: ([f"--workdir={t / 'w'}", "--config.optim.nme=adam"],
                                      None),
                           r'unknown config key: optim.nme; did you mean "optim.name"\?'),
    "config-without-get-config": (
        lambda t: ([f"--workdir={t / 'w'}", f"--config={write_config(t, 'X = 1')}"], None),
        r"the config file defines no get_config\(arg\)"),
    "get-config-raises": (
        lambda t: ([f"--workdir={t / 'w'}", f"--config={write_config(t, GET_CONFIG_RAISES)}"],
                   None),
        r"^gwa-train: error: get_config raised ValueError: needs a noise rate at "
        r"/.*/cfg\.py:2$"),
    "get-config-raises-in-a-helper": (
        lambda t: ([f"--workdir={t / 'w'}", f"--config={write_config(t, GET_CONFIG_HELPER)}"],
                   None),
        r"^gwa-train: error: get_config raised KeyError: 'noise' at /.*/cfg\.py:2$"),
    "get-config-returns-none": (
        lambda t: ([f"--workdir={t / 'w'}", f"--config={write_config(t, GET_CONFIG_NONE)}"],
                   None),
        r"get_config\(arg\) in /.*/cfg\.py returned None; it should return an "
        r"ml_collections\.ConfigDict"),
    "get-config-returns-a-dict": (
        lambda t: ([f"--workdir={t / 'w'}", f"--config={write_config(t, GET_CONFIG_DICT)}"],
                   None),
        r"get_config\(arg\) in /.*/cfg\.py returned a dict; wrap it in "
        r"ml_collections\.ConfigDict"),
    "override-with-a-config-prefix": (lambda t: ([f"--workdir={t / 'w'}",
                                                  "--config.config.optim.lr=0.1"], None),
                                      r'unknown config key: config\.optim\.lr; did you mean '
                                      r'"optim\.lr"\?'),
    "invalid-config-json": (lambda t: ([f"--workdir={invalid_config_json(t)}"], t / "w"),
                            r"holds a config.json that is not a gwa-jax run config"),
    "total-steps-below-one-epoch": (lambda t: ([f"--workdir={t / 'new' / 'w'}",
                                                "--config.total_steps=5"], t / "new"),
                                    r"total_steps=5 is shorter than one epoch"),
    "overwrite-a-project": (lambda t: ([f"--workdir={project(t)}", "--overwrite"], t / "w"),
                            r"--overwrite refused: .*/w is not a gwa-jax run"),
}
GET_CONFIG_RAISES = "def get_config(arg=None):\n    raise ValueError('needs a noise rate')\n"
GET_CONFIG_HELPER = ("def rate(args):\n    return float(args['noise'])\n\n\n"
                     "def get_config(arg=None):\n    return rate({})\n")
GET_CONFIG_NONE = ("from gwa_jax.config_base import default_config\n\n\n"
                   "def get_config(arg=None):\n    c = default_config()\n")
GET_CONFIG_DICT = ("from gwa_jax.config_base import default_config\n\n\n"
                   "def get_config(arg=None):\n    return default_config().to_dict()\n")


def invalid_config_json(t):
    (t / "w").mkdir()
    (t / "w" / "config.json").write_text('{"seed": 0, "dataset": {"na')
    return t / "w"


def project(t):
    (t / "w").mkdir()
    (t / "w" / "config.json").write_text('{"name": "my-web-app"}')
    (t / "w" / "thesis.tex").write_text("text")
    return t / "w"


def snapshot(path):
    if path is None or not path.exists():
        return None
    if path.is_file():
        return path.read_bytes()
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else None
            for p in sorted(path.rglob("*"))}


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="needs the offline Fashion-MNIST files")
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_touches_nothing(case, tmp_path, capsys):
    setup, pattern = BAD_INPUTS[case]
    (tmp_path / "f").write_text("a file")
    args, watched = setup(tmp_path)
    config = [a for a in args if a.startswith("--config=")] or [f"--config={QUICKSTART}"]
    args = [*config, *SMOKE, *(a for a in args if not a.startswith("--config="))]
    before = snapshot(watched)
    code, err = gwa_train(args, capsys)  # A case's override comes after SMOKE's.
    errors = [ln for ln in err if ln.startswith("gwa-train:")]
    assert code == 2, err
    assert len(errors) == 1 and re.search(pattern, errors[0]), errors
    assert "Traceback" not in "\n".join(err)
    assert snapshot(watched) == before  # A failed start leaves the workdir as it found it.
    if case == "total-steps-below-one-epoch":  # The corrected command is not refused.
        config, workdir, _ = parse_command_line(["gwa-train", *args[:-1]], 1)
        from gwa_jax.run.workdir import FRESH, prepare_workdir

        assert prepare_workdir(config, workdir) == FRESH
