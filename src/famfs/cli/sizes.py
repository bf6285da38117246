"""Size arguments with k/K, m/M, g/G suffixes (powers of 1024)."""

from __future__ import annotations

import argparse

_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes in `text` ('4096', '4k', '2M', '1g', '0x1000'); ValueError if malformed."""
    s = text.strip()
    mult = 1
    if s and s[-1].lower() in _UNITS:
        mult = _UNITS[s[-1].lower()]
        s = s[:-1]
    value = int(s, 0)
    if value < 0:
        raise ValueError(f"negative size {text!r}")
    return value * mult


def size_arg(text: str) -> int:
    """argparse type for sizes."""
    try:
        return parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (use N, Nk, Nm or Ng)") from None


def mode_arg(text: str) -> int:
    """argparse type for an octal mode."""
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid mode {text!r} (octal, e.g. 0644)") from None
    if not 0 <= mode <= 0o7777:
        raise argparse.ArgumentTypeError(f"mode {text!r} has bits beyond 07777")
    return mode
