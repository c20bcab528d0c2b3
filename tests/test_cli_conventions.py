"""Own models (import path, register, model.kwargs), gwa-train's flags (--version,
--print_config, absl logging flags, python -m gwa_jax), progress lines and train_images."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gwa_jax import models
from gwa_jax.cli.train_config import parse_value, split_argv
from gwa_jax.cli.train_run import UsageError, parse_command_line
from gwa_jax.config_base import default_config
from gwa_jax.config_check import ConfigError, validate
from gwa_jax.run.progress import StepProgress, format_eta

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

OWN = textwrap.dedent('''
    import flax.linen as nn
    import jax.numpy as jnp


    class Net(nn.Module):
        num_classes: int
        width: int = 16
        depth: int = 1

        @nn.compact
        def __call__(self, x, train: bool = False):
            z = x.reshape(x.shape[0], -1)
            for _ in range(self.depth):
                z = nn.relu(nn.Dense(self.width)(z))
            self.sow("latent_embeddings", "x", z.astype(jnp.float32))
            return nn.Dense(self.num_classes, name="head")(z)


    class NoSow(nn.Module):
        num_classes: int

        @nn.compact
        def __call__(self, x, train: bool = False):
            return nn.Dense(self.num_classes, name="head")(x.reshape(x.shape[0], -1))


    class NoHead(nn.Module):
        num_classes: int

        @nn.compact
        def __call__(self, x, train: bool = False):
            z = x.reshape(x.shape[0], -1)
            self.sow("latent_embeddings", "x", z)
            return nn.Dense(self.num_classes, name="classifier")(z)


    def net(num_classes):
        return Net(num_classes)
''')

CONFIG = textwrap.dedent('''
    """Digits with an own model."""
    from gwa_jax.config_base import default_config


    def get_config(arg=None):
        c = default_config()
        c.dataset.name = "digits"
        c.dataset.train_subset = 300
        c.model.name = "own_cli_models:net"
        c.batch_size = 50
        c.eval_batch_size = 100
        c.total_steps = 12
        c.checkpoint_every = 100
        return c
''')


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    d = tmp_path_factory.mktemp("own")
    (d / "own_cli_models.py").write_text(OWN)
    (d / "own_cfg.py").write_text(CONFIG)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(d))
        yield d


def _env(own_dir):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), str(own_dir)]),
               JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    return env


def _gwa_train(own_dir, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gwa_jax", *args], capture_output=True,
                          text=True, env=_env(own_dir), cwd=cwd or own_dir, timeout=300)


# --- own models ------------------------------------------------------------------------------


def test_factory_by_import_path_with_kwargs(own):
    model = models.create("own_cli_models:net", 10, width=8, depth=2)
    assert (model.width, model.depth, model.num_classes) == (8, 2, 10)
    assert models.model_fields("own_cli_models:Net") == ["depth", "width"]
    n = models.check_contract(model, (8, 8, 1), 10, "net")
    # Second path: the parameter count of a real init.
    params = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"]
    assert n == models.num_params(params) == (64 * 8 + 8) + (8 * 8 + 8) + (8 * 10 + 10)
    # The class itself is a factory too; float32 needs no dtype field, bfloat16 does.
    assert models.create("own_cli_models:Net", 3, dtype="float32").num_classes == 3
    with pytest.raises(models.ModelError, match="has no 'dtype' field"):
        models.create("own_cli_models:Net", 3, dtype="bfloat16")
    with pytest.raises(models.ModelError, match=r"unknown model.kwargs \['widht'\].*depth, "
                                                r"width"):
        models.create("own_cli_models:net", 10, widht=3)


@pytest.mark.parametrize("name,pattern", [
    ("own_cli_models:NoSow", "does not sow its pre-head latent; call self.sow"),
    ("own_cli_models:NoHead", "has no Dense head named 'head'.*classifier"),
])
def test_contract_violations_are_one_line(own, name, pattern):
    with pytest.raises(models.ModelError, match=pattern) as info:
        models.check_contract(models.create(name, 10), (8, 8, 1), 10, name)
    assert "\n" not in str(info.value)


def test_import_errors_and_register(own):
    c = default_config()
    for name, pattern in [("no_such_module:f", "cannot import the model module 'no_such_module'"),
                          ("own_cli_models:nope", "has no 'nope'")]:
        c.model.name = name
        with pytest.raises(ConfigError, match=pattern):
            validate(c)

    class Small(nn.Module):
        num_classes: int

        @nn.compact
        def __call__(self, x, train=False):
            z = nn.Dense(4)(x.reshape(x.shape[0], -1))
            self.sow("latent_embeddings", "x", z)
            return nn.Dense(self.num_classes, name="head")(z)

    models.register("my_small_test_net", Small)
    assert "my_small_test_net" in models.names()
    c.model.name = "my_small_test_net"
    validate(c)
    assert models.check_contract(models.create("my_small_test_net", 10), (8, 8, 1), 10) == (
        64 * 4 + 4 + 4 * 10 + 10)
    with pytest.raises(models.ModelError, match="zoo name"):
        models.register("vit_fmnist", Small)


def test_model_kwargs_from_the_command_line(own):
    cfg = str(own / "own_cfg.py")
    config, _, _ = parse_command_line(["gwa-train", f"--config={cfg}", "--workdir=/tmp/w",
                                       "--config.model.kwargs.width=24",
                                       "--config.model.kwargs.depth", "2"], 1)
    assert dict(config.model.kwargs) == {"width": 24, "depth": 2}
    # A zoo model: any dataclass field, tuples included; the model built has it.
    config, _, _ = parse_command_line(
        ["gwa-train", f"--config={cfg}", "--workdir=/tmp/w", "--config.model.name=convnext_atto",
         "--config.model.kwargs.depths=(1,1,1,1)", "--config.model.kwargs.dims=[8,16,24,32]"], 1)
    from gwa_jax.train.step import model_overrides

    model = models.create("convnext_atto", 10, **model_overrides(config.model))
    assert model.depths == (1, 1, 1, 1) and model.dims == (8, 16, 24, 32)
    # A field that exists but a value the model cannot build with: one line before training.
    bad = models.create("convnext_atto", 10, depths=(1, 1))
    with pytest.raises(models.ModelError, match=r"cannot be applied to images of shape "
                                                r"\(B, 8, 8, 1\).*differ in length"):
        models.check_contract(bad, (8, 8, 1), 10, "convnext_atto")
    with pytest.raises(UsageError, match=r"unknown config.model.kwargs \['depht'\] for model "
                                         r"'own_cli_models:net'; its fields: depth, width"):
        parse_command_line(["gwa-train", f"--config={cfg}", "--workdir=/tmp/w",
                            "--config.model.kwargs.depht=2"], 1)
    assert parse_value("(1,1)") == (1, 1) and parse_value("gelu") == "gelu"
    assert parse_value("[2, 3]") == (2, 3) and parse_value("0.5") == 0.5


# --- flags -------------------------------------------------------------------------------------


def test_split_argv_separates_absl_flags():
    s = split_argv(["gwa-train", "--config=c.py", "--alsologtostderr", "--verbosity", "1",
                    "--workdir", "w", "-v=2", "--nologtostderr", "--print_config",
                    "--config.seed=3", "--config.model.kwargs.width=8"])
    assert s.config_argv == ["gwa-train", "--config=c.py", "--workdir", "w", "--config.seed=3"]
    assert s.absl_argv == ["--alsologtostderr", "--verbosity", "1", "-v=2", "--nologtostderr"]
    assert s.model_kwargs == {"width": 8} and s.dry_run and not s.version


def test_version_and_print_config(own, tmp_path):
    from gwa_jax import __version__

    res = _gwa_train(own, "--version")
    assert res.returncode == 0 and res.stdout.strip() == f"gwa-train (gwa-jax) {__version__}"
    res = _gwa_train(own, "--config", "own_cfg.py", "--print_config",
                     "--config.model.kwargs.width=8", "--alsologtostderr", cwd=own)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "name: own_cli_models:net" in out and "width: 8" in out
    n = (64 * 8 + 8) + (8 * 10 + 10)
    assert f"own_cli_models:net: {n:,} parameters" in out
    assert "steps/epoch    6 (batch 50)" in out and "epochs         2 (12 steps;" in out
    assert "train samples  300 of 1438 ids" in out
    # --dry_run is the same, and a workdir given is left untouched.
    res = _gwa_train(own, "--config", "own_cfg.py", "--dry_run", "--workdir",
                     str(tmp_path / "w"))
    assert res.returncode == 0 and not (tmp_path / "w").exists()
    res = _gwa_train(own, "--config", "own_cfg.py", "--print_config",
                     "--config.model.name=own_cli_models:NoSow")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("gwa-train: error: model "
                                                          "'own_cli_models:NoSow' does not sow")


def test_absl_flags_train_and_verbosity_is_honoured(own, tmp_path):
    quiet = _gwa_train(own, "--config", "own_cfg.py", "--workdir", str(tmp_path / "q"),
                       "--alsologtostderr", "--verbosity=-1", "--config.log_every_steps=2")
    assert quiet.returncode == 0, quiet.stderr
    assert (tmp_path / "q" / "summary.json").exists()
    assert "train step compiled" not in quiet.stderr  # INFO is below --verbosity=-1.
    assert "criterion" in quiet.stdout  # The selection table still prints.
    res = _gwa_train(own, "--config", "own_cfg.py", "--workdir", str(tmp_path / "q"),
                     "--logtostderr", "--config.log_every_steps=2")
    assert res.returncode == 0 and "holds a finished run" in res.stdout


# --- progress --------------------------------------------------------------------------------


def test_progress_lines_every_n_steps():
    lines = []
    p = StepProgress(total_steps=10, batch_size=32, log_every=4, num_epochs=2, enabled=True,
                     log=lambda fmt, *a: lines.append(fmt % a))
    state = jnp.zeros(3)
    for step in range(1, 11):
        buffers = SimpleNamespace(loss_sum=jnp.float32(2.0 * step), count=jnp.float32(step))
        p.update(step, 1 + (step > 5), state, buffers)
    assert lines[0].startswith("train step compiled; first step (1) done in ")
    assert [ln.split(" |")[0] for ln in lines[1:]] == ["step 4/10 (epoch 1/2)",
                                                       "step 8/10 (epoch 2/2)"]
    assert all("| loss 2.0000 |" in ln and "images/s | ETA " in ln for ln in lines[1:])
    off = []
    p = StepProgress(10, 32, 4, 2, enabled=False, log=lambda fmt, *a: off.append(fmt % a))
    for step in range(1, 11):
        p.update(step, 1, state, None)
    assert len(off) == 1  # The compile line only (on a terminal tqdm draws the bar).
    assert [format_eta(s) for s in (0.4, 59, 245, 7380)] == ["0s", "59s", "4m05s", "2h03m"]


# --- training images by id ----------------------------------------------------------------------


def test_train_images_match_the_input_pipeline():
    from sklearn.datasets import load_digits

    from gwa_jax.data import build_data, train_images
    from gwa_jax.data.images import _streamed

    c = default_config()
    c.dataset.name = "digits"
    c.dataset.train_subset = 200
    c.eval_batch_size = 64
    ids = build_data(c).meta["ids"][[5, 0, 150]]
    direct = train_images(c, ids)
    assert direct.shape == (3, 8, 8, 1) and direct.dtype == np.uint8
    # Second path: the run's own evaluation pipeline, mapped back from [-1, 1].
    np.testing.assert_array_equal(_streamed(c, ids), direct)
    # Third: the raw scikit-learn images are among the stored ones (same scaling).
    raw = np.round(load_digits().images * (255.0 / 16.0)).astype(np.uint8)
    assert all(any(np.array_equal(img[..., 0], r) for r in raw) for img in direct)
    assert train_images(c.to_dict(), ids[:1]).shape == (1, 8, 8, 1)  # config.json dicts too.
    with pytest.raises(ValueError, match="outside the 1438 ids"):
        train_images(c, [99999])
