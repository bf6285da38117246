"""Argument types of the command line: sizes with k/K, m/M, g/G, t/T suffixes (powers of 1024),
octal modes, numbers, user and group ids, thread counts; and the process umask."""

from __future__ import annotations

import argparse
import functools
import os

_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MAX_SIZE = (1 << 63) - 1
"""Largest size any command accepts (bytes): what a signed 64-bit file offset holds."""
MAX_ID = (1 << 32) - 1


@functools.lru_cache(maxsize=1024)
def parse_size(text: str) -> int:
    """Bytes in `text` ('4096', '4k', '2M', '1g', '0x1000'); ValueError if malformed.
    Results are kept: the many -M of one creat mostly repeat a few sizes."""
    s = text.strip()
    mult = 1
    if s and s[-1].lower() in _UNITS:
        mult = _UNITS[s[-1].lower()]
        s = s[:-1]
    value = int(s, 0) * mult
    if value < 0:
        raise ValueError(f"negative size {text!r}")
    if value > MAX_SIZE:
        raise ValueError(f"size {text!r} is larger than {MAX_SIZE} bytes")
    return value


def size_arg(text: str) -> int:
    """argparse type for sizes."""
    try:
        return parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (use N, Nk, Nm, Ng or Nt, at "
                                         f"most {MAX_SIZE} bytes)") from None


def mode_arg(text: str) -> int:
    """argparse type for an octal mode."""
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid mode {text!r} (octal, e.g. 0644)") from None
    if not 0 <= mode <= 0o7777:
        raise argparse.ArgumentTypeError(f"mode {text!r} has bits beyond 07777")
    return mode


def int_arg(text: str) -> int:
    """argparse type for an integer (decimal, 0x hex or 0o octal)."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None


def id_arg(text: str) -> int:
    """argparse type for a user or group id: 0 to 2**32 - 1."""
    value = int_arg(text)
    if not 0 <= value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"id {text!r} is not between 0 and {MAX_ID}")
    return value


def count_arg(text: str) -> int:
    """argparse type for a count of at least 1 (threads, strips, buckets)."""
    value = int_arg(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def umask() -> int:
    """The process umask (read without changing it for longer than the call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
