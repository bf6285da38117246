"""Mount options and their accepted values, importable without loading the server."""

from __future__ import annotations

CACHE_MODES = ("direct", "page")
"""`--cache`: direct I/O (no page cache, the default) or the page cache."""

DEFAULT_WORKERS = 8
"""Request threads of a mount unless `-t` says otherwise."""

DEFAULT_BUSY_POLL_US = 100
"""`--busy-poll`: microseconds the request thread polls for the next request after a reply
before it sleeps in read(2) (0: never). A client sending requests one after another (a
sequential read, a tree walk) sends the next within tens of microseconds of its reply; found by
polling, it saves the wake-up of a sleeping thread. It costs at most this much CPU time after
the last request of a burst."""

MAX_BUSY_POLL_US = 100_000
"""Largest `--busy-poll` accepted (0.1 s)."""

PROTOCOL_CHOICES = ("v10", "early", "push", "off")
"""`--famfs-protocol`: which revision of the famfs map extension to offer (push: devices
registered with an ioctl, simple extents only)."""

DEFAULT_PROTOCOL = "v10"
