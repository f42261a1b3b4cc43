"""The reproduce-* targets as a user runs them (make found on PATH, the venv step skipped), each at its smallest
setting: every one runs to its table when some datasets are absent (their cells say `data missing`, exit 0), writes
only under REPRODUCE_OUT (runs/reproduce by default: git-ignored), and puts the quick profile's caption line (what
was reduced, which rows are a PIPELINE CHECK) into its tables. The dry-run tests (`make -n`) check the default
output folders, the target names, the old names and `make help`'s order without training anything."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import Cli

REPO = Path(__file__).resolve().parents[2]
TARGETS = (
    "reproduce-deepeutaxy-table-iv",
    "reproduce-deepeutaxy-table-vii",
    "reproduce-monitor-table-3-1",
    "reproduce-monitor-figure-4-2",
    "reproduce-apricot-table-v",
    "reproduce-leap-table-1",
    "reproduce-trimming-table-1",
)
ALIASES = {
    "reproduce-table-iv": "reproduce-deepeutaxy-table-iv",
    "reproduce-table-vii": "reproduce-deepeutaxy-table-vii",
    "reproduce-ol-distribution": "reproduce-monitor-table-3-1",
    "compare-checking-frequency": "reproduce-monitor-figure-4-2",
}
# Hydra overrides that shrink any quick run to a few hundred images and one epoch (the runs are then off their
# profile's protocol: the DeepEutaxy tables count them with --allow-off-protocol)
TINY = "quick.train_subset=200 quick.test_subset=200 quick.max_epochs=1"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(target: str, *variables: str, tmp_path: Path) -> str:
    done = subprocess.run(
        Cli.make(target, *variables, venv=tmp_path / "venv", dry_run=True),
        cwd=REPO,
        env=Cli().env,  # without the outer make's MAKEFLAGS
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def mnist_only(tmp_path: Path, data_dir: Path) -> Path:
    """A data root holding MNIST alone: every CIFAR-10, CIFAR-100 and SVHN cell is `data missing`."""
    root = tmp_path / "mnist_only"
    root.mkdir()
    (root / "MNIST").symlink_to(data_dir / "MNIST")
    return root


def run_target(cli, tmp_path: Path, data_root: Path, target: str, *variables: str) -> tuple[Path, str]:
    """Run `target` with REPRODUCE_OUT in tmp_path; returns that folder and the output (fails unless exit 0)."""
    out = tmp_path / "out"
    done = cli.run(
        Cli.make(target, f"REPRODUCE_OUT={out}", *variables, venv=tmp_path / "venv"),
        env={"PYTHONPATH": str(REPO / "src"), "TRAINFIX_DATA_DIR": str(data_root)},
        cwd=REPO,
        timeout=1200,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return out, output


def values(folder: Path, stem: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{stem}_values.csv", comment="#")


def assert_quick_note(folder: Path, stem: str, text: str, values_caption: bool) -> None:
    """The quick profile's line is the table's first caption line (md), the line after the title of each CSV with
    '#' caption lines (`values_caption`: DeepEutaxy's values files have them; LEAP's and trimming's are plain
    frames that start with their header row) and in the report."""
    md = (folder / f"{stem}.md").read_text().splitlines()
    assert md[0].startswith("## ") and md[2].startswith("- Profile quick") and text in md[2], md[:4]
    head = (folder / f"{stem}.csv").read_text().splitlines()[:2]
    assert head[0].startswith("# ") and head[1].startswith("# Profile quick") and text in head[1], head
    head = (folder / f"{stem}_values.csv").read_text().splitlines()[:2]
    assert head[0].startswith("#") == values_caption, head
    assert (head[1].startswith("# Profile quick") and text in head[1]) == values_caption, head
    assert text in (folder / "report.html").read_text()


# ------------------------------------------------------------------ dry runs: names, folders, help (no training)
def test_quick_profile_writes_under_runs_and_full_sweeps_stay_in_multirun(tmp_path: Path) -> None:
    """With the defaults every folder a quick reproduce target names (sweeps, tables, Apricot's passes, the
    monitor's timing) lies under runs/ (git-ignored), never results/ or multirun/; PROFILE=full sweeps go to
    multirun/ (resumable there) and their tables to runs/reproduce/ too."""
    paths = re.compile(r"(?:--out|--runs|--base-runs|paths\.multirun_dir=|runs=|--timing)[ =]?(\S+)")
    for target in TARGETS:
        found = paths.findall(dry_run(target, tmp_path=tmp_path))
        assert found, target
        assert all(p.startswith("runs/") for p in found), (target, found)
    full = dry_run("reproduce-deepeutaxy-table-iv", "PROFILE=full", tmp_path=tmp_path)
    assert "paths.multirun_dir=multirun " in full
    assert "--out runs/reproduce/deepeutaxy/table_iv_full_paper" in full
    assert "Profile quick" not in full  # the quick caption line is for quick tables only


def test_old_target_names_run_the_new_ones_and_help_lists_reproduce_first(tmp_path: Path) -> None:
    for old, new in ALIASES.items():
        assert dry_run(old, tmp_path=tmp_path) == dry_run(new, tmp_path=tmp_path), old
    help_text = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=REPO, env=Cli().env, capture_output=True, text=True, timeout=60
    ).stdout
    targets = [line.split()[0] for line in help_text.splitlines() if re.match(r"  [a-z]", line)]
    assert targets[: len(TARGETS)] == list(TARGETS)
    evidence = [line for line in help_text.splitlines() if line.startswith("  evidence-")]
    assert targets[-len(evidence) :] == [line.split()[0] for line in evidence]
    assert all("[hours]" in line for line in evidence if not line.startswith("  evidence-tables "))
    assert all(re.fullmatch(r"reproduce-[a-z]+-(table|figure)-[0-9a-z-]+", t) for t in TARGETS)


# ------------------------------------------------------------------ each target at its smallest setting
@pytest.mark.slow
def test_deepeutaxy_table_iv_builds_with_a_dataset_missing(cli, tmp_path: Path, mnist_only: Path) -> None:
    """LeNet-5 trains (tiny) and ResNet-20's CIFAR-10 is absent: exit 0, LeNet-5 cells hold numbers, ResNet-20's
    say data missing, the runs lie under REPRODUCE_OUT/multirun."""
    out, _ = run_target(
        cli,
        tmp_path,
        mnist_only,
        "reproduce-deepeutaxy-table-iv",
        "ROWS_IV=lenet5 resnet20",
        "SEEDS=0",
        f"ARGS={TINY} quick.batch_size=100",
        "TABLE_ARGS=--allow-off-protocol",
    )
    folder = out / "deepeutaxy" / "table_iv_quick_paper"
    cells = values(folder, "table_iv").set_index(["row", "column"])
    assert cells.loc[("lenet5", "BL test acc"), "ours"] > 0
    assert "data missing" in cells.loc[("resnet20", "BL test acc"), "ours_text"]
    assert_quick_note(folder, "table_iv", "PIPELINE CHECK for the CIFAR-10 rows", values_caption=True)
    runs = sorted(p.parent.name for p in (out / "multirun" / "deepeutaxy_table_iv_quick").glob("*/run.json"))
    assert len(runs) == 6 and sum(name.startswith("lenet5_") for name in runs) == 3


@pytest.mark.slow
def test_trimming_table_1_without_its_datasets_exits_0_with_data_missing_cells(
    cli, tmp_path: Path, mnist_only: Path
) -> None:
    """SVHN and CIFAR-100 absent, the joblib launcher: every job fails for its data, the sweep exits 1 (not 2,
    which stops a target), and the table is built with `data missing` in each cell."""
    out, output = run_target(
        cli,
        tmp_path,
        mnist_only,
        "reproduce-trimming-table-1",
        "TRIM_MODELS=resnet34",
        "TRIM_DATA=svhn,cifar100",
        "TRIM_SEEDS=0",
    )
    assert "4 of 4 jobs failed" in output
    folder = out / "trimming" / "table_1_quick_paper"
    table = (folder / "table_1.md").read_text()
    assert table.count("data missing") >= 2
    assert_quick_note(folder, "table_1", "PIPELINE CHECK", values_caption=False)


@pytest.mark.slow
def test_demo_prints_the_accuracy_cells_and_where_the_table_is(cli, tmp_path: Path, data_dir: Path) -> None:
    """`make demo` at a tiny size (its real size: README): the sweep of BL, SPL and DE, Table IV with the reduced
    settings as its first caption line, the six accuracy cells printed with the paper's numbers, the paths."""
    out = tmp_path / "demo"
    done = cli.run(
        Cli.make(
            "demo",
            f"DEMO_OUT={out}",
            f"ARGS={TINY}",
            "TABLE_ARGS=--allow-off-protocol",
            venv=tmp_path / "venv",
        ),
        env={"PYTHONPATH": str(REPO / "src"), "TRAINFIX_DATA_DIR": str(data_dir)},
        cwd=REPO,
        timeout=1200,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    printed = done.stdout.splitlines()
    rows = [line.split() for line in printed if re.match(r"(BL|SPL|DE) (train|test) acc ", line)]
    assert [" ".join(r[:3]) for r in rows] == [f"{s} {m} acc" for s in ("BL", "SPL", "DE") for m in ("train", "test")]
    assert [float(r[3]) for r in rows] == [99.09, 97.93, 99.03, 98.36, 99.88, 98.78]  # the paper's LeNet-5 row
    folder = out / "deepeutaxy_table_iv"
    assert (
        printed[-1]
        == f"Table: {folder}/table_iv.md (every column; numbers: table_iv_values.csv); report: {folder}/report.html"
    )
    md = (folder / "table_iv.md").read_text().splitlines()
    assert md[2].startswith("- Reduced for make demo: 1 seed (paper 5), 10 of 200 epochs")
    cells = values(folder, "table_iv").set_index("column")
    assert [float(r[4]) for r in rows] == pytest.approx(
        [round(cells.loc[f"{s} {m} acc", "ours"], 2) for s in ("BL", "SPL", "DE") for m in ("train", "test")]
    )


@pytest.mark.slow
def test_deepeutaxy_table_vii_without_cifar10_or_table_iv_runs_builds_with_data_missing(
    cli, tmp_path: Path, mnist_only: Path
) -> None:
    out, _ = run_target(
        cli,
        tmp_path,
        mnist_only,
        "reproduce-deepeutaxy-table-vii",
        "ROWS_VII=resnet20",
        "SEEDS=0",
        f"ARGS={TINY}",
        "TABLE_ARGS=--allow-off-protocol",
    )
    folder = out / "deepeutaxy" / "table_vii_quick_paper"
    cells = values(folder, "table_vii")
    assert (cells["ours_text"] == "data missing").sum() >= 3
    assert_quick_note(folder, "table_vii", "PIPELINE CHECK", values_caption=True)


@pytest.mark.slow
def test_apricot_table_v_without_cifar10_skips_the_passes_and_builds(cli, tmp_path: Path, mnist_only: Path) -> None:
    out, output = run_target(cli, tmp_path, mnist_only, "reproduce-apricot-table-v", f"ARGS={TINY}")
    assert "cnn1: an input run failed (its data missing?): no Apricot passes" in output
    folder = out / "apricot" / "table_v_quick"
    assert (folder / "table_v.md").read_text().splitlines()[2].startswith("- Profile quick (seeds 0): PIPELINE CHECK")
    assert not (out / "multirun" / "apricot_quick" / "adapt").exists()


@pytest.mark.slow
def test_leap_table_1_with_its_dataset_missing_builds_with_data_missing(cli, tmp_path: Path, mnist_only: Path) -> None:
    out, _ = run_target(
        cli, tmp_path, mnist_only, "reproduce-leap-table-1", "LEAP_ROWS=svhn", "LEAP_SEEDS=0", f"ARGS={TINY}"
    )
    folder = out / "leap" / "table_1_quick_paper"
    assert "data missing" in (folder / "table_1.md").read_text()
    assert_quick_note(folder, "table_1", "PIPELINE CHECK for every row", values_caption=False)


@pytest.mark.slow
def test_monitor_targets_build_the_study_and_the_checking_tables(cli, tmp_path: Path, data_dir: Path) -> None:
    """reproduce-monitor-figure-4-2 runs reproduce-monitor-table-3-1 first: one 2-epoch run on 200 MNIST images."""
    out, _ = run_target(
        cli,
        tmp_path,
        data_dir,
        "reproduce-monitor-figure-4-2",
        "OL_SEEDS=0",
        "OL_EPOCHS=2",
        "ARGS=quick.train_subset=200 quick.test_subset=200",
    )
    for folder in ("oscillating_loss_quick", "checking_quick"):
        md = (out / "monitor" / folder / "table_detection.md").read_text().splitlines()
        assert md[2] == (
            "- Profile quick (seeds 0): PIPELINE CHECK (2,000 MNIST images at batch 32, 2 epochs; detection rates of "
            "so few runs prove nothing)"
        )
    assert (out / "monitor" / "checking_quick" / "timing.json").exists()
    assert len(list((out / "multirun" / "monitor_ol_quick").glob("*/run.json"))) == 1
