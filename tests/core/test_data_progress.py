"""Progress lines appear on a terminal only, and end with a newline when finished."""

from __future__ import annotations

import io

from famfs import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_silent_when_not_a_terminal() -> None:
    out = io.StringIO()
    bar = progress.Progress("cp", 100, stream=out)
    bar.advance(100)
    bar.finish()
    assert out.getvalue() == ""


def test_progress_on_a_terminal_shows_done_total_and_percent(monkeypatch) -> None:
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.0)
    out = Terminal()
    bar = progress.Progress("verify", 4 * 1024 * 1024, stream=out)
    bar.advance(1024 * 1024)
    bar.advance(3 * 1024 * 1024)
    bar.finish()
    text = out.getvalue()
    assert "verify: 1.0 MiB of 4.0 MiB (25%" in text
    assert "(100%" in text and text.endswith("\n")


def test_progress_counts_items_when_not_bytes(monkeypatch) -> None:
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.0)
    out = Terminal()
    bar = progress.Progress("files", 10, in_bytes=False, stream=out)
    bar.advance(5)
    assert "files: 5 of 10 (50%" in out.getvalue()
