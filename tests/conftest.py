"""Shared fixtures of every tier: the real data root, composing the real train.yaml, tiny run settings,
the CLI as a user runs it (`cli`), and the kill-after-checkpoint step of every resume test.

Tiers (docs/testing.md): tests/unit (no training run, no subprocess; tests/unit/conftest.py enforces it),
tests/integration (in-process training on real data), tests/system (the CLI, make, sweeps, launchers,
the notebook), tests/reliability (the fault suite).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# One OpenMP/MKL thread per process, in pytest and in every process a test starts: pytest-xdist's workers
# (started after pytest has imported this file), CLI runs, DDP and gloo ranks, joblib workers and the notebook
# kernel inherit os.environ, and each worker imports this file again before torch. On the 2-core CI machine,
# children taking a thread per core each oversubscribed it (some tests ran 40x slower); pytest itself
# ran a single-process test (test_same_seed_gives_identical_metrics) in 55 s with 1 thread vs 75-81 s
# with 2 on a loaded 2-core machine. A value set in the caller's environment wins (MKL follows OMP:
# torch takes the smaller of the two). Set before torch is imported (it reads them when it loads),
# and pinned below in case a plugin imported it first.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])
if "torch" in sys.modules and os.environ["OMP_NUM_THREADS"].isdigit():
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

import pytest  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from trainfix.training.compose import CONF_DIR, compose_config, register_resolvers  # noqa: E402

register_resolvers()  # what every entry point does first

os.environ.setdefault("WANDB_MODE", "offline")

REPO = Path(__file__).resolve().parents[1]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--dist loadgroup` (make test): keep each `xdist_group` on one worker under pytest >= 9.2 too.

    pytest-xdist 3.8 groups a test by adding `@<group>` to its node id through `item._nodeid`, which pytest 9.2
    no longer reads (node ids are structured now), so every group was silently spread over the workers
    (pytest-xdist issue 1386, fix in PR 1388). Until that fix is released, each xdist worker sets the id here.
    """
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers by --dist loadgroup
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest < 9.2: xdist's own suffix takes effect
        return
    for item in items:
        groups = sorted(
            {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
        )
        suffix = "@" + "_".join(groups)
        if groups and not item.nodeid.endswith(suffix) and isinstance(getattr(item, "_id", None), NodeId):
            item._id = NodeId.parse(item.nodeid + suffix)


def shared_data_dir() -> Path:
    """The real data root: $TRAINFIX_DATA_DIR, else ../shared/data beside the checkout."""
    env = os.environ.get("TRAINFIX_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def require_data_root() -> Path:
    """The real data root, or skip the test; under CI=true a missing root fails it instead, so a CI machine
    with a broken data path cannot report green."""
    root = shared_data_dir()
    if not (root / "MNIST" / "raw").exists():
        message = (
            f"real data not found: {root / 'MNIST' / 'raw'} does not exist (set TRAINFIX_DATA_DIR to a folder in "
            "torchvision's layout; default ../shared/data beside the checkout)"
        )
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"CI={os.environ['CI']}: {message}", pytrace=False)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return require_data_root()


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose conf/train.yaml with `overrides` as `python -m trainfix.train` would, output in `output_dir`."""
    return compose_config(overrides, output_dir)


def compose_eval(*overrides: str) -> DictConfig:
    """Compose conf/eval.yaml with `overrides` as `python -m trainfix.eval` would (for `trainfix.eval.evaluate`)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("eval.yaml", overrides=list(overrides))


@pytest.fixture
def tiny_cfg(tmp_path: Path, data_dir: Path):
    """A factory for small CPU runs on real MNIST (LeNet-5, 2 epochs of 2,000 samples)."""

    def make(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        base = [
            f"paths.data_dir={data_dir}",
            "trainer.accelerator=cpu",
            "trainer.max_epochs=2",
            "trainer.enable_progress_bar=false",
            "data.train_subset=2000",
            "data.test_subset=500",
            "data.batch_size=250",
            "data.eval_batch_size=500",
        ]
        return compose_train(base + list(overrides), run_dir or tmp_path / "run")

    return make


def process_running(pid: int | str) -> bool:
    """Whether the process exists and is not a zombie (an orphan's zombie may wait for a reaper); reads /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# ------------------------------------------------------------------- the CLI, as a user runs it
class Cli:
    """Runs a command from the checkout with the suite's environment: os.environ (one OpenMP/MKL thread, see
    the top of this file) plus W&B offline, Hydra's short errors and the real data root."""

    @property
    def env(self) -> dict[str, str]:
        # WANDB_SERVICE names the wandb-core process of an in-process W&B run of this worker: a command that
        # reuses it fails once that process is gone (a killed child took it down), so each command starts its own.
        # `make test ARGS=...` puts its command-line variables into the environment (and MAKEFLAGS after " -- "):
        # a `make` a test runs would take them (ARGS would reach the target's commands). Drop them, and MAKEFLAGS,
        # MFLAGS, MAKELEVEL: a test's make starts from the Makefile's defaults.
        makeflags = os.environ.get("MAKEFLAGS", "")
        command_line = makeflags.split(" -- ", 1)[1].split() if " -- " in makeflags else []
        dropped = {"WANDB_SERVICE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"} | {
            word.split("=", 1)[0] for word in command_line if "=" in word
        }
        inherited = {k: v for k, v in os.environ.items() if k not in dropped}
        return {
            **inherited,
            "WANDB_MODE": "offline",
            "HYDRA_FULL_ERROR": "0",
            "TRAINFIX_DATA_DIR": str(shared_data_dir()),
        }

    @staticmethod
    def make(target: str, *variables: str, venv: Path, dry_run: bool = False) -> list[str]:
        """`make <target> VAR=value ...` from the checkout with the running interpreter (`venv`'s install step
        marked done, so the target runs without reinstalling)."""
        return [
            "make",
            "--no-print-directory",
            *(["-n"] if dry_run else []),
            "-o",
            str(venv / ".installed"),
            f"VENV={venv}",
            f"PY={sys.executable}",
            target,
            *variables,
        ]

    @staticmethod
    def train(*overrides: str) -> list[str]:
        """The command `python -m trainfix.train <overrides>`."""
        return [sys.executable, "-m", "trainfix.train", *overrides]

    def run(
        self,
        command: list[str],
        *,
        timeout: float = 900,
        check: bool = False,
        env: dict[str, str] | None = None,
        cwd: Path = REPO,
    ) -> subprocess.CompletedProcess:
        """Run `command` in `cwd` (the checkout) to its end, output captured as text (`env`: variables to add);
        `check`: fail the test, with the output's tail, unless it exits 0."""
        done = subprocess.run(
            command, cwd=cwd, env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            pytest.fail(
                f"{' '.join(map(str, command[1:4]))} ... "
                f"exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}"
            )
        return done

    def start(
        self,
        command: list[str],
        *,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen:
        """Start `command` without waiting (output discarded unless `stdout`/`stderr` say otherwise), with Ctrl+C's
        SIGINT at its default, as from a terminal: a command started in the background by a non-interactive shell (a
        CI job, `make test &`) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt in the child."""
        return subprocess.Popen(
            command,
            cwd=REPO,
            env={**self.env, **(env or {})},
            stdout=stdout,
            stderr=stderr,
            text=text,
            preexec_fn=_default_sigint,
        )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli()


def epochs_checkpointed(run_dir: Path) -> int:
    """Epochs recorded in run_dir/metrics.csv once a checkpoint exists, else 0."""
    import pandas as pd

    metrics = Path(run_dir) / "metrics.csv"
    return (
        len(pd.read_csv(metrics)) if metrics.exists() and (Path(run_dir) / "checkpoints" / "last.ckpt").exists() else 0
    )


def kill_after_checkpoint(
    proc: subprocess.Popen,
    run_dir: Path,
    *,
    epochs: int = 1,
    until: Callable[[Path], bool] | None = None,
    signum: int = signal.SIGKILL,
    timeout: float = 600,
) -> int:
    """Send `signum` (kill -9 unless told) to the run `proc` trains in `run_dir` once `epochs` epochs are
    checkpointed there and `until(run_dir)` holds; wait for it to end and return its exit status. Fails the
    test when the run ends first or nothing is checkpointed within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    wanted = f"{epochs} checkpointed epoch(s)" + (f" and {getattr(until, '__name__', 'until')}()" if until else "")
    while not (epochs_checkpointed(run_dir) >= epochs and (until is None or until(Path(run_dir)))):
        if proc.poll() is not None:
            pytest.fail(f"the run in {run_dir} ended (exit {proc.returncode}) before {wanted}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{run_dir}: no {wanted} after {timeout:.0f} s")
        time.sleep(0.02)
    proc.send_signal(signum)
    proc.communicate(timeout=300)
    return proc.returncode


@contextlib.contextmanager
def in_background(function: Callable[..., object], *args: object, **kwargs: object) -> Iterator[None]:
    """Run `function(*args, **kwargs)` in a thread while the `with` block runs; on leaving it, wait for the thread
    and raise here what it raised (a `pytest.fail` inside a thread is otherwise lost and the test passes), e.g.
    `with in_background(kill_after_checkpoint, proc, killed): train(...)` of every resume test."""
    raised: list[BaseException] = []

    def target() -> None:
        try:
            function(*args, **kwargs)
        except BaseException as error:  # pytest.fail raises an OutcomeException, not an Exception
            raised.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if raised:
        raise raised[0]


@pytest.fixture(name="kill_after_checkpoint")
def kill_after_checkpoint_fixture() -> Callable[..., int]:
    """kill_after_checkpoint(proc, run_dir, epochs=1, until=None, signum=SIGKILL): every resume test's kill."""
    return kill_after_checkpoint
