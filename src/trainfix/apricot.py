r"""`python -m trainfix.apricot`: one Apricot adaptation pass (Algorithm 2) over trained runs, Hydra-configured.

    python -m trainfix.apricot runs=multirun/apricot_full row=cnn1 apricot_strategy=1 direction=toward
    python -m trainfix.apricot -m runs=multirun/apricot_quick apricot_strategy=1,2,3 direction=toward,printed \
        retrain_epochs=1 max_batches=5
    trainfix apricot multirun/apricot_quick row=cnn1          # the runs folder may also be given positionally

Settings and their defaults: conf/apricot.yaml. The procedure: trainfix.procedures.apricot.procedure.
"""

from __future__ import annotations

import json
import logging
import sys

import hydra
from omegaconf import DictConfig

from trainfix.core.exit_status import EXIT_CONFIG, run_hydra_cli
from trainfix.runs.orphan import exit_if_orphaned, stop_when_parent_dies
from trainfix.training.compose import CONF_DIR, register_resolvers

log = logging.getLogger("trainfix.apricot")


register_resolvers()  # before @hydra.main composes conf/
_TASK_STARTED = False


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="apricot")
def main(cfg: DictConfig) -> None:
    global _TASK_STARTED
    _TASK_STARTED = True
    # Imported here: torch and Lightning load after the command line composed (trainfix.cli).
    from trainfix.core.allocator import keep_freed_memory
    from trainfix.core.seeding import seed_everything
    from trainfix.core.third_party_noise import quiet_third_party_noise
    from trainfix.procedures.apricot.inputs import ApricotInputError
    from trainfix.procedures.apricot.procedure import run_pass
    from trainfix.training.checkpoint import RunLoadError

    quiet_third_party_noise()
    keep_freed_memory()  # the retraining epochs are CPU training like any other (trainfix.core.allocator)
    stop_when_parent_dies()  # a joblib worker of a killed sweep stops; the pass resumes (trainfix.runs.orphan)
    seed_everything(int(cfg.seed))
    try:
        result = run_pass(cfg)
    except (ApricotInputError, RunLoadError, ValueError) as error:
        log.error("%s", error)
        raise SystemExit(EXIT_CONFIG) from None
    finally:
        exit_if_orphaned()  # a joblib worker of a killed sweep ends here, its pass saved
    log.info("result: %s", json.dumps(result))


def cli() -> None:
    """`python -m trainfix.apricot` / `trainfix apricot`: the runs folder positional or `runs=`."""
    from trainfix.cli import answer_help, normalize_argv, run_checked

    paths = ("runs", "input_run", "out_dir")
    sys.argv[1:] = normalize_argv(sys.argv[1:], path_keys=paths, positional="runs")
    answer_help(sys.argv[1:], "apricot", __doc__ or "")
    run_checked("trainfix-apricot", "apricot", sys.argv[1:])
    run_hydra_cli(main, lambda: _TASK_STARTED, EXIT_CONFIG)


if __name__ == "__main__":
    cli()
