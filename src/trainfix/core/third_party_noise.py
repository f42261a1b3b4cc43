"""Silencing third-party messages that say nothing about the run.

Applied by `train()` itself rather than at import time: a Hydra launcher may run jobs in worker
processes that never import `trainfix.train` as a module (joblib pickles `__main__.main` by value),
so import-time filters would not reach them.
"""

from __future__ import annotations

import logging
import warnings

# Lightning's product adverts ("💡 Tip: ... litlogger", "... litmodels"), logged once per Trainer, and its line on
# TPUs, which trainfix never uses (the GPU line stays: it says which device trains).
ADVERT_LOGGER = "pytorch_lightning.utilities.rank_zero"
ADVERT_TEXT = "litlogger"
NOISE_TEXTS = (ADVERT_TEXT, "litmodels", "TPU available:", "HPU available:")
# A torch-version deprecation raised inside Lightning's own code (pytorch_lightning/utilities/_pytree.py).
LEAFSPEC_DEPRECATION = r".*isinstance\(treespec, LeafSpec\).*"


def _not_advert(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not any(text in message for text in NOISE_TEXTS)


def quiet_third_party_noise() -> None:
    """Install the log and warning filters in this process (idempotent: safe to call per job)."""
    logger = logging.getLogger(ADVERT_LOGGER)
    if _not_advert not in logger.filters:
        logger.addFilter(_not_advert)
    # filterwarnings drops an identical earlier entry before inserting, so repeated calls add nothing.
    warnings.filterwarnings("ignore", message=LEAFSPEC_DEPRECATION)
    # trainfix logs once per epoch (Classifier.log_epoch), never per step: Lightning's hint is moot.
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval Trainer\(log_every_n_steps.*")
    # callbacks=model_checkpoint writes best.ckpt beside trainfix's own last.ckpt, by design.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
