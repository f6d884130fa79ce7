"""Shared pieces of the command-line entry points: argparse value types and signal handling."""

from __future__ import annotations

import argparse
import math
from types import FrameType


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {text}")
    return value


def positive_int(text: str) -> int:
    """An int >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An int >= 0."""
    return _int_at_least(text, 0)


# The extension refuses any duration above 365 days (``convert::MAX_SECONDS`` in the Rust core).
MAX_SECONDS = 31_536_000.0


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite float >= 0."""
    value = _finite(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite float > 0."""
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def seconds(text: str) -> float:
    """A duration in seconds: finite, > 0 and at most 365 days (``MAX_SECONDS``)."""
    value = positive_float(text)
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SECONDS:.0f} seconds (365 days), got {text}")
    return value


def milliseconds(text: str) -> float:
    """A delay in milliseconds: finite, >= 0 and at most 365 days."""
    value = non_negative_float(text)
    if value > MAX_SECONDS * 1000:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_SECONDS * 1000:.0f} milliseconds (365 days), got {text}"
        )
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {text}")
    return value


def raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """Signal handler turning SIGTERM into KeyboardInterrupt, so cleanup runs as for Ctrl-C."""
    raise KeyboardInterrupt
