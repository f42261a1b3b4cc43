"""`summary` and `report` on hand-made run folders (numbers checked by hand). (On real tiny LeNet-5 runs:
tests/integration/test_summary_report_runs.py.)

Hand-made sweep (optimizer.lr swept, 2 epochs, test_acc per epoch):
  lr=0.1   seed 0 finished [0.50, 0.70], seed 1 finished [0.60, 0.90], seed 2 failed (error text with <b>)
  lr=0.01  seed 0 finished [0.40, 0.60], seed 1 diverged [0.30, nan]
  lr=0.001 seed 0 data missing (run.json only)
  junk/    an unreadable run.json
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainfix.results.__main__ import main
from trainfix.results.collect import collect_runs
from trainfix.results.report import render_report, robust_limits
from trainfix.results.summary import group_configurations, identity, seed_text, shown_keys, shown_value, summarize

CHROMIUM = Path("/usr/bin/chromium")


def config(lr: float, seed: int, run_dir: Path) -> dict:
    return {
        "seed": seed,
        "run_name": run_dir.name,
        "task_name": "sweep",
        "tags": [],
        "paths": {"output_dir": str(run_dir), "data_dir": "/data"},
        "model": {"name": "mlp"},
        "optimizer": {"_target_": "torch.optim.SGD", "lr": lr},
        "strategy": {"_target_": "trainfix.strategies.baseline.Baseline"},
        "trainer": {"max_epochs": 2, "enable_progress_bar": False},
        "logger": {"csv": {"save_dir": str(run_dir)}},
    }


def craft(
    root: Path, name: str, lr: float, seed: int, status: str, test_acc: list[float] | None, error: str | None = None
) -> None:
    write_run(root / name, config(lr, seed, root / name), status, test_acc, error)


def write_run(folder: Path, cfg: dict, status: str, test_acc: list[float] | None, error: str | None = None) -> None:
    folder.mkdir(parents=True)
    record = {"status": status, "seed": cfg["seed"], "config": cfg, "data": {"label": "MNIST", "num_classes": 10}}
    if error:
        record["error"] = error
    (folder / "run.json").write_text(json.dumps(record))
    if test_acc is not None:
        n = len(test_acc)
        pd.DataFrame(
            {
                "epoch": range(n),
                "train_loss": [1.0 - a for a in test_acc],
                "train_acc": test_acc,
                "test_loss": [1.5 - a for a in test_acc],
                "test_acc": test_acc,
            }
        ).to_csv(folder / "metrics.csv", index=False)


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "sweep"
    craft(root, "lr0.1_s0", 0.1, 0, "finished", [0.50, 0.70])
    craft(root, "lr0.1_s1", 0.1, 1, "finished", [0.60, 0.90])
    craft(root, "lr0.1_s2", 0.1, 2, "failed", [0.20], error="RuntimeError: shape <b>bad</b>")
    craft(root, "lr0.01_s0", 0.01, 0, "finished", [0.40, 0.60])
    craft(root, "lr0.01_s1", 0.01, 1, "diverged", [0.30, float("nan")])
    craft(
        root,
        "lr0.001_s0",
        0.001,
        0,
        "failed",
        None,
        error="DatasetMissingError: MNIST files not found in /data/MNIST/raw",
    )
    (root / "junk").mkdir()
    (root / "junk" / "run.json").write_text("{not json")
    return root


# --------------------------------------------------------------------------- summary
def test_swept_keys_leave_out_seed_paths_and_logging() -> None:
    a, b = identity(config(0.1, 0, Path("/x/a"))), identity(config(0.01, 1, Path("/x/b")))
    assert shown_keys([a, b]) == ["optimizer.lr"]
    assert identity(config(0.1, 3, Path("/y/c"))) == a  # seed, run name, paths, logger: not compared


def strategy_config(target: str, seed: int, **keys: object) -> dict:
    """A run's config with `strategy._target_` = target; dotted `keys` (`model__init`) added."""
    cfg = config(0.1, seed, Path(f"/runs/{target}{seed}"))
    cfg["strategy"] = {"_target_": f"trainfix.strategies.{target}"}
    for dotted, value in keys.items():
        group, key = dotted.split("__")
        cfg.setdefault(group, {})[key] = value
    return cfg


def test_configurations_across_record_versions_and_readable_columns(tmp_path: Path) -> None:
    """Newer records add keys at their default (model.init, monitor) and a PAST_VALUES key: one configuration per
    strategy, as DeepEutaxy's 9 LeNet-5 runs (3 record versions) and the monitor study's 20 seeds are."""
    root = tmp_path / "versions"
    specs = [
        ("bl_s0", strategy_config("baseline.Baseline", 0), [0.9, 0.95]),  # oldest record: no model.init
        ("bl_s1", strategy_config("baseline.Baseline", 1, model__init="default", monitor__x=1), [0.9, 0.97]),
        ("spl_s0", strategy_config("spl.SelfPaced", 0, strategy__alpha=1.3), [0.5, 0.98]),
        ("spl_s1", strategy_config("spl.SelfPaced", 1, strategy__alpha=1.3, model__init="default"), [0.5, 0.96]),
        # Adagrad's accumulator start: a record lacking the key ran with 0.0 (PAST_VALUES), so 0.0 joins BL, 0.1 not
        (
            "bl_s2",
            strategy_config("baseline.Baseline", 2, model__init="default", optimizer__initial_accumulator_value=0.0),
            [0.9, 0.99],
        ),  # noqa: E501
        (
            "bl_tf",
            strategy_config("baseline.Baseline", 0, model__init="default", optimizer__initial_accumulator_value=0.1),
            [0.9, 0.91],
        ),  # noqa: E501
    ]
    for name, cfg, acc in specs:
        write_run(root / name, cfg, "finished", acc)
    runs = collect_runs(root)
    table = summarize(runs)
    assert list(table.columns[:2]) == ["strategy", "optimizer.initial_accumulator_value"]  # readable, varying only
    rows = table.set_index(["strategy", "optimizer.initial_accumulator_value"])
    assert list(rows.index) == [("Baseline", "0"), ("Baseline", "0.1"), ("SelfPaced", "0")]
    assert list(rows["n"]) == [3, 1, 2] and list(rows["seeds"]) == ["0-2", "0", "0,1"]
    assert rows.loc[("Baseline", "0"), "mean"] == pytest.approx((0.95 + 0.97 + 0.99) / 3)
    assert "strategy.alpha" not in table.columns  # one value wherever recorded: in the details, not a column
    details = " ".join(table.attrs["details"])
    assert "strategy=SelfPaced, optimizer.initial_accumulator_value=0: strategy.alpha=1.3" in details
    assert "merged records, some without model.init" in details
    assert all(p not in table.attrs["title"] for p in ("/tmp", str(tmp_path)))  # never a machine's absolute path


def test_ambiguous_old_record_stays_apart_and_missing_keys_show_dash() -> None:
    """A record lacking strategy.alpha while alpha is swept (0.5, 1.3) could be either: it stays a row of its own."""
    identities = {
        "a": identity(strategy_config("spl.SelfPaced", 0, strategy__alpha=0.5)),
        "b": identity(strategy_config("spl.SelfPaced", 0, strategy__alpha=1.3)),
        "old": identity(strategy_config("spl.SelfPaced", 1)),
        "bl": identity(strategy_config("baseline.Baseline", 1)),
    }
    groups = group_configurations(identities)
    assert [ids for ids, _ in groups] == [["a"], ["b"], ["old"], ["bl"]]
    keys = shown_keys([c for _, c in groups])
    assert keys == ["strategy._target_", "strategy.alpha"]
    assert [shown_value(k, c.get(k)) for _, c in groups for k in keys][-4:] == ["SelfPaced", "-", "Baseline", "-"]
    identities["old2"] = identity(strategy_config("spl.SelfPaced", 2))  # an old SPL record joins the one alpha there is
    del identities["a"]
    assert [ids for ids, _ in group_configurations(identities)] == [["b", "old", "old2"], ["bl"]]


def test_seed_text_and_chance_flag(tmp_path: Path) -> None:
    assert [seed_text(pd.Series(s)) for s in ([0, 1, 2, 3], [0, 1, 4], [5, 2, 3, 4, 9], [])] == [
        "0-3",
        "0,1,4",
        "2-5,9",
        "",
    ]
    root = tmp_path / "chance"
    for seed, acc in ((0, [0.09, 0.11]), (1, [0.10, 0.08])):
        write_run(root / f"s{seed}", config(0.1, seed, root / f"s{seed}"), "finished", acc)
    assert summarize(collect_runs(root))["test_acc (mean ± std)"].iloc[0] == "0.0950 ± 0.0212 (≈ chance 0.10)"


def test_summary_rows_mean_std_and_statuses(sweep: Path) -> None:
    table = summarize(collect_runs(sweep)).set_index("optimizer.lr")
    assert list(table.index) == ["0.001", "0.01", "0.1", "(no readable config)"]  # by value; no config last
    lr1 = table.loc["0.1"]
    assert (lr1["n"], lr1["finished"], lr1["failed"]) == (2, 2, 1)
    assert lr1["mean"] == pytest.approx(0.80)  # last epochs 0.70 and 0.90; the failed run's 0.20 does not count
    assert lr1["std"] == pytest.approx(0.1414213562)  # sample std of (0.7, 0.9)
    assert lr1["test_acc (mean ± std)"] == "0.8000 ± 0.1414"
    assert lr1["seeds"] == "0-2"
    lr2 = table.loc["0.01"]
    assert (lr2["n"], lr2["finished"], lr2["diverged"], lr2["test_acc (mean ± std)"]) == (1, 1, 1, "0.6000")
    assert table.loc["0.001", "data missing"] == 1 and table.loc["0.001", "test_acc (mean ± std)"] == "no finished run"
    assert table.loc["(no readable config)", "unreadable"] == 1


def test_summary_at_max(sweep: Path) -> None:
    table = summarize(collect_runs(sweep), "train_loss", at="max").set_index("optimizer.lr")
    assert table.loc["0.1", "mean"] == pytest.approx((0.50 + 0.40) / 2)  # max train_loss = 1 - first test_acc


def test_summary_cli_prints_and_writes(sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "summary.csv"
    assert main(["summary", "--runs", str(sweep), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| optimizer.lr" in printed and "0.8000 ± 0.1414" in printed
    written = pd.read_csv(out, comment="#").set_index("configuration")
    assert written.loc["optimizer.lr=0.1", "mean"] == pytest.approx(0.8) and written.loc["optimizer.lr=0.1", "n"] == 2
    assert main(["summary", "--runs", str(sweep), "--out", str(tmp_path / "summary.txt")]) == 2
    assert "written as .md or .csv" in capsys.readouterr().err
    assert main(["summary", "--runs", str(sweep), "--metric", "test_accuracy"]) == 2
    assert "metric='test_accuracy' is not a column" in capsys.readouterr().err
    assert main(["summary", str(sweep)]) == 0 and "0.8000 ± 0.1414" in capsys.readouterr().out  # folder positional
    for twice in (["summary"], ["summary", str(sweep), "--runs", str(tmp_path)]):
        with pytest.raises(SystemExit) as exit_status:
            main(twice)
        assert (
            exit_status.value.code == 2
            and "give the runs folder once, as RUNS or --runs RUNS" in capsys.readouterr().err
        )


# --------------------------------------------------------------------------- report
def images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)]


def test_report_crafted_content(sweep: Path, tmp_path: Path) -> None:
    page = render_report(collect_runs(sweep), title=f"Sweep of {sweep}")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained
    assert "0.8000 ± 0.1414" in page  # the summary table
    pngs = images(page)
    assert len(pngs) == 1  # one figure: lr=0.1 and lr=0.01 overlaid (the others recorded no epoch)
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    assert "<details><summary>How the curves are drawn (3)</summary>" in page and "band: min-max" in page
    head = page.split("id='runs'")[0]
    assert str(sweep) not in head and "content0/sweep</h1>" in page  # titles: no absolute path
    assert "RuntimeError: shape &lt;b&gt;bad&lt;/b&gt;" in page and "<b>bad</b>" not in page  # errors shown, escaped
    assert "DatasetMissingError: MNIST files not found" in page
    runs_part = page.split("id='runs'")[1]
    statuses = re.findall(r">(finished|failed|diverged|data missing|unreadable)</td>", runs_part)
    assert sorted(statuses) == ["data missing", "diverged", "failed", "finished", "finished", "finished", "unreadable"]
    assert runs_part.index("lr0.1_s0") < runs_part.index("lr0.1_s1") < runs_part.index("lr0.1_s2")  # seed order
    assert main(["report", "--runs", str(sweep), "--out", str(tmp_path / "r.txt")]) == 2
    assert (
        main(["report", str(sweep), "--out", str(tmp_path / "r.html")]) == 0
        and "0.8000 ± 0.1414" in (tmp_path / "r.html").read_text()
    )


def test_report_tables_captions_collapsed_and_shared_lines_once(sweep: Path) -> None:
    tables = []
    for name in ("Table A", "Table B"):
        table = pd.DataFrame({"ours": ["1.00"]}, index=["LeNet-5"])
        table.attrs = {"title": name, "short": f"{name} in one line.", "caption": ["Runs: x.", f"How {name} is made."]}
        tables.append(table)
    page = render_report(collect_runs(sweep), tables=tables)
    assert page.count("Runs: x.") == 1  # a line every table repeats is shown once, collapsed
    assert "<details><summary>Sources and protocol, common to the 2 tables (1)</summary><ul><li>Runs: x." in page
    assert '<p class="caption">Table B in one line.</p>' in page
    assert "<details><summary>Notes (1)</summary><ul><li>How Table B is made.</li>" in page


def test_robust_limits_keep_a_spike_from_flattening_the_rest() -> None:
    """Loss: log scale, so SPL's 3,500 spike (DeepEutaxy) stays in view without flattening 1.0 -> 0.01; a divergence
    to 1e30 is cut at 100x the 98th percentile and counted outside."""
    curve = np.geomspace(1.0, 0.01, 200)
    low, high, outside, log = robust_limits(pd.Series(np.r_[curve, np.full(5, 3500.0)]), accuracy=False)
    assert log and outside == 0 and 3500 < high < 3500 * 2 and 0.005 < low < 0.01  # 5.5 decades, each readable
    loss = pd.Series(np.r_[curve, 1e30, 1e30])
    low, high, outside, log = robust_limits(loss, accuracy=False)
    top = np.log10(loss).quantile(0.98) + 2  # 98th percentile (in decades): about 1.0, so the top is about 100
    pad = 0.05 * (top - np.log10(0.01))
    assert (
        log and outside == 2 and np.log10(high) == pytest.approx(top + pad) and np.log10(low) == pytest.approx(-2 - pad)
    )
    linear = robust_limits(pd.Series([0.0, *np.linspace(0.1, 1.0, 98), 3500.0]), accuracy=False)  # a 0: linear
    assert linear[3] is False and linear[1] < 2 and linear[2] == 1
    assert robust_limits(pd.Series([0.25, 0.1, 0.07]), accuracy=False)[3] is False  # within 30x: linear reads better
    values = pd.Series([0.1, *np.linspace(0.9, 0.99, 99)])  # one epoch at 0.1 (the first) is left below the axis
    low_q = values.quantile(0.02)
    pad = 0.05 * (0.99 - low_q)
    assert low_q > 0.9 and robust_limits(values, accuracy=True) == pytest.approx((low_q - pad, 0.99 + pad, 1, False))


def test_rerun_history_under_previous_is_not_a_second_run(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    craft(root, "lr0.1_s0", 0.1, 0, "finished", [0.50, 0.70])
    # rerun=true moved the first attempt's records to <run>/previous/1/ (runs.folder.archive_previous)
    write_run(root / "lr0.1_s0" / "previous" / "1", config(0.1, 0, root / "lr0.1_s0"), "finished", [0.40, 0.60])
    row = summarize(collect_runs(root)).iloc[0]
    assert (row["n"], row["finished"], row["test_acc (mean ± std)"]) == (1, 1, "0.7000")  # the new attempt only


def test_publish_note_heads_every_caption_and_the_report(sweep: Path, tmp_path: Path) -> None:
    from trainfix.results.report import publish

    table = pd.DataFrame({"ours": ["0.80"]}, index=pd.Index(["lr 0.1"], name="row"))
    table.attrs.update(title="Table 1", caption=["Paper numbers: x.yaml"], stem="table_1")
    values = pd.DataFrame({"row": ["lr 0.1"], "column": ["acc"], "ours_mean": [0.8]})
    values.attrs.update(title="Table 1 values", caption=[])
    publish(collect_runs(sweep), tmp_path, "T", tables=[(table, values)], note="Reduced: 2 epochs")
    assert (tmp_path / "table_1.md").read_text().splitlines()[2] == "- Reduced: 2 epochs"
    assert (tmp_path / "table_1.csv").read_text().splitlines()[1:3] == [
        "# Reduced: 2 epochs",
        "# Paper numbers: x.yaml",
    ]
    assert (tmp_path / "table_1_values.csv").read_text().splitlines()[1] == "# Reduced: 2 epochs"
    assert "<b>Reduced: 2 epochs</b>" in (tmp_path / "report.html").read_text()


def test_docs_summary_example_is_the_commands_output(capsys, monkeypatch) -> None:
    """docs/results.md shows the summary of a committed evidence folder as "real output": it is, in full."""
    repo = Path(__file__).resolve().parents[2]
    command = "python -m trainfix.results summary --runs results/deepeutaxy/table_iv_lenet5_cpu_paper/runs"
    page = (repo / "docs" / "results.md").read_text()
    shown = page.split(f"Example (real output, `{command}`):\n\n```\n", 1)[1].split("```\n", 1)[0]
    monkeypatch.chdir(repo)
    assert main(command.split()[3:]) == 0
    assert capsys.readouterr().out.split("\nwrote:")[0].rstrip("\n") + "\n" == shown


def test_committed_figures_are_palette_pngs_close_to_the_rendering() -> None:
    """palette_png: one 256-colour palette per figure, its text kept, pixels within a few levels of matplotlib's own
    RGBA rendering, the same bytes twice, and a transparent figure refused (it would lose its alpha)."""
    import io

    from matplotlib.figure import Figure
    from PIL import Image

    from trainfix.results.report import _png, palette_png

    figure = Figure(figsize=(4, 3))
    axes = figure.subplots()
    rng = np.random.default_rng(0)
    axes.scatter(rng.normal(size=300), rng.normal(size=300), c=rng.integers(0, 10, 300), cmap="tab10", alpha=0.7, s=6)
    axes.plot(np.linspace(-2, 2, 50), np.sin(np.linspace(-2, 2, 50)), color="black")
    data = palette_png(figure, 80, {"Description": "a test figure", "Software": "trainfix.results"})
    assert data == palette_png(figure, 80, {"Description": "a test figure", "Software": "trainfix.results"})
    full = _png(figure, 80)
    assert len(data) < len(full) / 2
    with Image.open(io.BytesIO(data)) as image, Image.open(io.BytesIO(full)) as rendered:
        assert image.mode == "P" and image.text["Description"] == "a test figure"
        assert image.size == rendered.size
        ours = np.asarray(image.convert("RGB"), dtype=int)
        theirs = np.asarray(rendered.convert("RGB"), dtype=int)
    difference = np.abs(ours - theirs)
    assert np.percentile(difference, 99) <= 10 and difference.mean() < 0.5  # 64 colours: 15 and 0.51
    figure.patch.set_alpha(0.0)
    with pytest.raises(ValueError, match="transparent pixels"):
        palette_png(figure, 80, {})
