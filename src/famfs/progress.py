"""Progress of long operations on a terminal: one line on stderr, redrawn a few times a second.

Silent unless stderr is a terminal, so scripts and tests see nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

REDRAW_SECONDS = 0.25


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class Progress:
    """`done` out of `total` units (bytes if `in_bytes`, else items) of `label`."""

    def __init__(self, label: str, total: int, in_bytes: bool = True,
                 stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self.total = total
        self.in_bytes = in_bytes
        self.done = 0
        self.started = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()

    def _fmt(self, n: float) -> str:
        return _human(n) if self.in_bytes else f"{n:.0f}"

    def advance(self, n: int) -> None:
        """Count `n` more units done; redraw if it is time."""
        with self._lock:
            self.done += n
            if self.enabled and time.monotonic() - self._drawn >= REDRAW_SECONDS:
                self._draw()

    def _draw(self) -> None:
        self._drawn = time.monotonic()
        pct = 100.0 * self.done / self.total if self.total else 100.0
        rate = self.done / max(self._drawn - self.started, 1e-9)
        unit = "/s" if self.in_bytes else " /s"
        self.stream.write(f"\r{self.label}: {self._fmt(self.done)} of {self._fmt(self.total)} "
                          f"({pct:.0f}%, {self._fmt(rate)}{unit})\x1b[K")
        self.stream.flush()

    def finish(self) -> None:
        """Draw the final state and end the line (only if anything was drawn)."""
        if self.enabled and self._drawn:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
