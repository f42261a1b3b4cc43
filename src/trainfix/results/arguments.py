"""Argument types the paper commands share (comma-separated lists)."""

from __future__ import annotations

import argparse


def int_list(text: str) -> list[int]:
    """ "0,1,2" -> [0, 1, 2]."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds {text!r}: expected comma-separated integers, e.g. --seeds 0,1,2,3,4"
        ) from None


def str_list(text: str) -> list[str]:
    """ "cnn1, lenet5" -> ["cnn1", "lenet5"]."""
    return [part.strip() for part in text.split(",") if part.strip()]
