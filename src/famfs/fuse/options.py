"""Mount options and their accepted values, importable without loading the server."""

from __future__ import annotations

CACHE_MODES = ("direct", "page")
"""`--cache`: direct I/O (no page cache, the default) or the page cache."""

DEFAULT_WORKERS = 8
"""Request threads of a mount unless `-t` says otherwise."""

PROTOCOL_CHOICES = ("v10", "early", "push", "off")
"""`--famfs-protocol`: which revision of the famfs map extension to offer (push: devices
registered with an ioctl, simple extents only)."""

DEFAULT_PROTOCOL = "v10"
