"""Mount options and their accepted values, importable without loading the server."""

from __future__ import annotations

CACHE_MODES = ("direct", "page")
"""`--cache`: direct I/O (no page cache, the default) or the page cache."""

DEFAULT_WORKERS = 8
"""Request threads of a mount unless `-t` says otherwise."""

PROTOCOL_CHOICES = ("v10", "early", "off")
"""`--famfs-protocol`: which numbering of the famfs GET_FMAP/GET_DAXDEV extension to offer."""

DEFAULT_PROTOCOL = "v10"
