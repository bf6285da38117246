"""Names made safe to print on a terminal.

Logged names come from the shared device and may hold anything a writer put there. Before a
name reaches a terminal, every character that could act on it (control characters, such as
the ESC of an escape sequence; format characters, such as bidirectional overrides; unassigned
and private code points; lone surrogates from undecodable bytes) is shown as a visible escape:
`\\n`, `\\t`, `\\x1b`, `\\u202e`, ... A backslash is doubled, so the escaped form is
unambiguous.
"""

from __future__ import annotations

import unicodedata

_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}


def _escape(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(name: str) -> str:
    """`name` with every character that is not safe on a terminal escaped visibly."""
    if name.isprintable() and "\\" not in name:
        return name
    return "".join(ch if ch != "\\" and unicodedata.category(ch)[0] != "C" else _escape(ch)
                   for ch in name)
