"""`python -m trainfix.evidence copy`: runs' records into an evidence folder's runs/, never a finished one lost."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from trainfix.evidence.__main__ import main


def _run(folder: Path, name: str, status: str, *, extra: dict[str, str] | None = None) -> Path:
    run = folder / name
    (run / ".hydra").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (run / "run.json").write_text(json.dumps({"status": status, "seed": 0}, indent=2) + "\n")
    (run / "metrics.csv").write_text(f"epoch,test_acc\n0,0.5\n1,{0.9 if status == 'finished' else 0.6}\n")
    (run / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    for file, text in (extra or {}).items():
        (run / file).write_text(text)
    return run


def test_copy_takes_records_and_named_files_not_checkpoints(tmp_path: Path) -> None:
    source, dest = tmp_path / "sweep", tmp_path / "evidence" / "runs"
    _run(source, "lenet5_seed0-aa", "finished", extra={"leap_embedding.csv": "x,y\n", "train.log": "log"})
    _run(source, "lenet5_seed1-bb", "running")
    _run(source, "cnn1_seed0-cc", "finished")
    (source / "sweeps").mkdir()  # a folder without run.json is no run
    (source / "lenet5_seed2-dd").mkdir()  # a run that has not recorded its first epoch: nothing to copy yet
    (source / "lenet5_seed2-dd" / "run.json").write_text('{"status": "running"}')
    assert main(["copy", str(source), str(dest), "--glob", "lenet5_*", "--files", "leap_embedding.csv"]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["lenet5_seed0-aa", "lenet5_seed1-bb"]
    copied = dest / "lenet5_seed0-aa"
    expected = ["leap_embedding.csv", "metrics.csv", "overrides.yaml", "run.json"]  # no train.log, no checkpoints
    assert sorted(p.name for p in copied.iterdir()) == expected
    assert (copied / "overrides.yaml").read_text() == "- seed=0\n"
    assert (copied / "metrics.csv").read_bytes() == (source / "lenet5_seed0-aa" / "metrics.csv").read_bytes()
    # the unfinished run is copied as it is: its tables label it
    assert json.loads((dest / "lenet5_seed1-bb" / "run.json").read_text())["status"] == "running"


def test_finished_only_leaves_out_runs_still_training_and_names_them(tmp_path: Path, capsys) -> None:
    source, dest = tmp_path / "sweep", tmp_path / "runs"
    _run(source, "mlp34_seed7-aa", "finished")
    _run(source, "mlp34_seed8-bb", "running")
    _run(source, "mlp34_seed9-cc", "interrupted")
    assert main(["copy", str(source), str(dest), "--finished-only"]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["mlp34_seed7-aa"]
    err = capsys.readouterr().err
    assert "copied the records of 1 run(s)" in err and "left out 2 unfinished: mlp34_seed8-bb, mlp34_seed9-cc" in err


def test_a_finished_record_is_never_replaced_by_an_unfinished_one(tmp_path: Path, capsys) -> None:
    source, dest = tmp_path / "sweep", tmp_path / "runs"
    _run(dest, "lenet5_seed0-aa", "finished")
    finished_metrics = (dest / "lenet5_seed0-aa" / "metrics.csv").read_text()
    _run(source, "lenet5_seed0-aa", "running")  # restarted under the same name, not finished yet
    _run(source, "lenet5_seed1-bb", "finished")
    assert main(["copy", str(source), str(dest)]) == 0
    assert json.loads((dest / "lenet5_seed0-aa" / "run.json").read_text())["status"] == "finished"
    assert (dest / "lenet5_seed0-aa" / "metrics.csv").read_text() == finished_metrics
    assert (dest / "lenet5_seed1-bb" / "run.json").is_file()
    err = capsys.readouterr().err
    assert "kept" in err and "lenet5_seed0-aa" in err and "copied the records of 1 run(s)" in err
    # once the rerun has finished, its record replaces the old one
    (source / "lenet5_seed0-aa" / "run.json").write_text(json.dumps({"status": "finished", "seed": 0}))
    assert main(["copy", str(source), str(dest)]) == 0
    assert (dest / "lenet5_seed0-aa" / "metrics.csv").read_text() == "epoch,test_acc\n0,0.5\n1,0.6\n"


def test_linked_runs_are_left_to_the_destination_and_a_missing_source_is_named(tmp_path: Path, capsys) -> None:
    other, source, dest = tmp_path / "other", tmp_path / "sweep", tmp_path / "runs"
    _run(other, "lenet5_seed0-aa", "finished")
    source.mkdir()
    (source / "lenet5_seed0-aa").symlink_to(other / "lenet5_seed0-aa")
    assert main(["copy", str(source), str(dest)]) == 0
    assert not dest.exists() or not any(dest.iterdir())
    missing = tmp_path / "nowhere"
    assert main(["copy", str(missing), str(dest)]) == 2
    assert f"runs folder {missing} does not exist" in capsys.readouterr().err


def test_a_destination_link_to_another_folders_record_is_never_written_through(tmp_path: Path, capsys) -> None:
    other, source, dest = tmp_path / "other" / "runs", tmp_path / "sweep", tmp_path / "variant" / "runs"
    _run(source, "lenet5_seed0-aa", "finished", extra={"note.txt": "retrained"})
    committed = other / "lenet5_seed0-aa"
    committed.mkdir(parents=True)
    (committed / "run.json").write_text('{"status": "finished", "seed": 0}\n')
    dest.mkdir(parents=True)
    (dest / "lenet5_seed0-aa").symlink_to(Path("../../other/runs/lenet5_seed0-aa"))
    assert main(["copy", str(source), str(dest), "--files", "note.txt"]) == 0
    assert sorted(p.name for p in committed.iterdir()) == ["run.json"]  # the other folder's record as it was
    assert (dest / "lenet5_seed0-aa").is_symlink()
    assert "not written through" in capsys.readouterr().err


@pytest.mark.parametrize("status_text", ["{not json", "[1, 2]"])
def test_an_unreadable_destination_record_is_not_a_finished_one(tmp_path: Path, status_text: str) -> None:
    source, dest = tmp_path / "sweep", tmp_path / "runs"
    _run(source, "lenet5_seed0-aa", "running")
    (dest / "lenet5_seed0-aa").mkdir(parents=True)
    (dest / "lenet5_seed0-aa" / "run.json").write_text(status_text)
    assert main(["copy", str(source), str(dest)]) == 0
    assert json.loads((dest / "lenet5_seed0-aa" / "run.json").read_text())["status"] == "running"


def test_a_file_the_source_run_no_longer_has_is_removed_from_its_copy(tmp_path: Path, capsys) -> None:
    source, dest = tmp_path / "sweep", tmp_path / "runs"
    _run(dest, "leap_seed0-aa", "running", extra={"leap_embedding.csv": "x,y\n0,1\n"})  # an earlier record's output
    _run(source, "leap_seed0-aa", "finished")  # rerun: wrote no embedding this time
    _run(source, "leap_seed1-bb", "finished", extra={"leap_embedding.csv": "x,y\n"})
    assert main(["copy", str(source), str(dest), "--files", "leap_embedding.csv", "convergence.json"]) == 0
    assert not (dest / "leap_seed0-aa" / "leap_embedding.csv").exists()
    assert (dest / "leap_seed1-bb" / "leap_embedding.csv").read_text() == "x,y\n"
    assert json.loads((dest / "leap_seed0-aa" / "run.json").read_text())["status"] == "finished"
    assert "removed" in capsys.readouterr().err
    # a file that is not among those copied (a note, a figure) is not ours to remove
    (dest / "leap_seed1-bb" / "notes.txt").write_text("kept")
    assert main(["copy", str(source), str(dest), "--files", "leap_embedding.csv"]) == 0
    assert (dest / "leap_seed1-bb" / "notes.txt").read_text() == "kept"


def test_a_rerun_recorded_under_todays_hash_replaces_the_committed_record_of_its_run(tmp_path: Path, capsys) -> None:
    """A committed row rerun on a fresh clone names its folders by today's identity hash; the committed record of the
    same run (its label, a compatible identity: recorded before issue 25, 86d32705) takes the copy, so the seed is
    recorded once. Another seed, or the same label at another identity key, keeps its own folder."""
    from tests.unit.test_identity_records import BASELINE, LENET5_JOB, TFKERAS, compose_job, with_override
    from trainfix.runs.identity import config_hash, resolved_identity_config

    dest = tmp_path / "runs"
    shutil.copytree(TFKERAS / BASELINE, dest / BASELINE)
    committed = json.loads((dest / BASELINE / "run.json").read_text())
    source = tmp_path / "sweep"
    names = {}
    for key, job in (
        ("rerun", LENET5_JOB),
        ("seed", with_override(LENET5_JOB, "seed=7")),
        ("lr", with_override(LENET5_JOB, "optimizer.lr=0.02")),
    ):
        config = {**resolved_identity_config(compose_job(job)), "run_name": committed["config"]["run_name"]}
        names[key] = f"lenet5_baseline_paper_seed{config['seed']}-{config_hash(config)}"
        run = _run(source, names[key], "finished")
        (run / "run.json").write_text(json.dumps({**committed, "config": config, "seed": config["seed"]}))
    assert names["rerun"] != BASELINE
    assert main(["copy", str(source), str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == sorted([BASELINE, names["seed"], names["lr"]])
    assert (
        json.loads((dest / BASELINE / "run.json").read_text())["config"]
        == json.loads((source / names["rerun"] / "run.json").read_text())["config"]
    )
    assert f"copying {names['rerun']} into {dest / BASELINE}: the same run" in capsys.readouterr().err


def test_a_record_lacking_a_key_the_runs_command_line_set_is_another_run(tmp_path: Path) -> None:
    """An older record without `strategy.selection` ran the default rule; a run whose command line set
    strategy.selection=code is another run (as training decides), so it keeps its own folder."""
    dest, source = tmp_path / "runs", tmp_path / "sweep"
    old = _run(dest, "mnist_leap_seed0-aaaaaaaa", "finished")
    base = {"run_name": "mnist_leap_seed0", "seed": 0, "strategy": {"lambda0": 0.1}}
    (old / "run.json").write_text(json.dumps({"status": "finished", "config": base}))
    new = {**base, "strategy": {"lambda0": 0.1, "selection": "code"}}
    for name, override in (("mnist_leap_seed0-bbbbbbbb", "strategy.selection=code"), ("mnist_leap_seed0-cccccccc", "")):
        run = _run(source, name, "finished")
        (run / "run.json").write_text(json.dumps({"status": "finished", "config": new}))
        (run / ".hydra" / "overrides.yaml").write_text(f"- seed=0\n- {override}\n" if override else "- seed=0\n")
    assert main(["copy", str(source), str(dest), "--glob", "*-bbbbbbbb"]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["mnist_leap_seed0-aaaaaaaa", "mnist_leap_seed0-bbbbbbbb"]
    # without the override the key is one the older record lacks by age: the same run, copied into its folder
    assert main(["copy", str(source), str(dest), "--glob", "*-cccccccc"]) == 0
    assert "mnist_leap_seed0-cccccccc" not in {p.name for p in dest.iterdir()}
    assert json.loads((old / "run.json").read_text())["config"] == new


APRICOT = Path(__file__).resolve().parents[2] / "results" / "apricot" / "lenet5_mnist_cpu" / "runs"
S1_TOWARD = "lenet5_mnist_seed0_S1_toward-71378ae6"


def _rerun_pass(source: Path, committed: Path, name: str, **settings: float) -> Path:
    """A pass as a rerun on a fresh clone writes it: its input runs named by other hashes, history.csv not gzipped."""
    rerun = source / "adapt" / name
    rerun.mkdir(parents=True)
    config = json.loads((committed / "config.json").read_text())
    rehash = lambda run: run.rsplit("-", 1)[0] + "-0123abcd"  # noqa: E731
    config["identity"] |= {"input_run": rehash(config["identity"]["input_run"]), **settings}
    config["identity"]["reduced_runs"] = [rehash(run) for run in config["identity"]["reduced_runs"]]
    (rerun / "config.json").write_text(json.dumps(config))
    for file in ("result.json", "reduced.json"):
        shutil.copyfile(committed / file, rerun / file)
    (rerun / "history.csv").write_bytes(gzip.decompress((committed / "history.csv.gz").read_bytes()))
    return rerun


def test_an_apricot_pass_rerun_under_todays_hashes_replaces_the_committed_pass(tmp_path: Path, capsys) -> None:
    """Apricot's pass folder hash covers its input runs' folder names, which a rerun on a fresh clone names by today's
    hashes; `--apricot-passes` copies such a pass (same label and settings, input runs by label) into the committed
    pass folder, with history.csv gzipped reproducibly, so Table V counts its seed once. A pass at another step size r
    keeps its own folder; a pass without result.json is not copied."""
    from trainfix.procedures.apricot.records import read_passes

    dest = tmp_path / "runs"
    shutil.copytree(APRICOT, dest)
    source = tmp_path / "sweep"
    rerun = _rerun_pass(source, APRICOT / "adapt" / S1_TOWARD, "lenet5_mnist_seed0_S1_toward-aaaa1111")
    other_r = _rerun_pass(source, APRICOT / "adapt" / S1_TOWARD, "lenet5_mnist_seed0_S1_toward-bbbb2222", r=0.01)
    unfinished = _rerun_pass(source, APRICOT / "adapt" / S1_TOWARD, "lenet5_mnist_seed0_S2_toward-cccc3333")
    (unfinished / "result.json").unlink()
    (rerun / "history.csv").write_text((rerun / "history.csv").read_text() + "\n")  # this record's own history
    assert main(["copy", str(source), str(dest), "--glob", "lenet5_mnist_*", "--apricot-passes"]) == 0
    committed = sorted(p.name for p in (APRICOT / "adapt").iterdir())
    assert sorted(p.name for p in (dest / "adapt").iterdir()) == sorted([*committed, other_r.name])
    assert json.loads((dest / "adapt" / S1_TOWARD / "config.json").read_text()) == json.loads(
        (rerun / "config.json").read_text()
    )
    packed = dest / "adapt" / S1_TOWARD / "history.csv.gz"
    assert gzip.decompress(packed.read_bytes()) == (rerun / "history.csv").read_bytes()
    assert not (dest / "adapt" / S1_TOWARD / "history.csv").exists()
    first = packed.read_bytes()
    assert main(["copy", str(source), str(dest), "--glob", "lenet5_mnist_*", "--apricot-passes"]) == 0
    assert packed.read_bytes() == first  # no time stamp or name in the gzip header: a copy again is the same bytes
    assert f"copying {rerun.name} into {dest / 'adapt' / S1_TOWARD}: the same pass" in capsys.readouterr().err
    passes, _ = read_passes(dest)
    assert len(passes) == len(committed) + 1
