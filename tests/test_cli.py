"""Command-line parsing and config validation: one clear line for every kind of bad input."""

import os
import subprocess
import sys
from pathlib import Path

import ml_collections
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwa_jax.cli import UsageError, parse_command_line
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
    ("--config.batch_sise=3", "unknown config key: batch_sise, did you mean \"batch_size\""),
    ("--config.optim.nme=adam", "did you mean \"name\""),
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
