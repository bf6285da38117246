"""Mapping formats: named (setup, begin) pairs, and the registry that finds them by name.

A format parses an opaque per-file blob once (`setup`, may be slow) into metadata that is cached
with the file, and resolves file offsets from that metadata alone (`begin`, the hot path: no
I/O, no round trip). Formats read their cached metadata only through a `MetaView`, a bounded
accessor: asking for bytes outside the metadata is an error, never a read of other memory.

Besides the built-in famfs formats, third-party packages add formats through the entry-point
group `famfs.mapping_formats`; each entry point loads to a MappingFormat instance, a
MappingFormat subclass, or a callable returning an instance.
"""

from __future__ import annotations

import struct
import threading
from typing import TYPE_CHECKING, Any

from famfs.mapping.iomap import IoMap, MappingError

if TYPE_CHECKING:
    import numpy as np

ENTRY_POINT_GROUP = "famfs.mapping_formats"
NAME_MAX = 15
"""A format name is at most 15 bytes (16 with the terminating NUL, as in the kernel)."""


class MetaView:
    """Read-only, bounds-checked access to a format's cached metadata bytes."""

    __slots__ = ("_buf", "_len")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._buf = bytes(data)
        self._len = len(self._buf)

    def __len__(self) -> int:
        return self._len

    def _check(self, offset: int, size: int) -> None:
        if offset < 0 or size < 0 or offset + size > self._len:
            raise MappingError(f"metadata access [{offset}, {offset + size}) is outside the "
                               f"{self._len}-byte metadata")

    def unpack(self, layout: struct.Struct, offset: int) -> tuple[Any, ...]:
        """`layout` unpacked at byte `offset`."""
        if offset < 0 or offset + layout.size > self._len:
            self._check(offset, layout.size)
        return layout.unpack_from(self._buf, offset)

    def read(self, offset: int, size: int) -> bytes:
        """A copy of `size` bytes at `offset`."""
        self._check(offset, size)
        return self._buf[offset:offset + size]

    def array(self, dtype: Any, offset: int, count: int) -> np.ndarray:
        """A read-only NumPy array of `count` items of `dtype` at `offset` (no copy)."""
        import numpy as np

        dt = np.dtype(dtype)
        self._check(offset, dt.itemsize * count)
        return np.frombuffer(self._buf, dtype=dt, count=count, offset=offset)


class MappingFormat:
    """A mapping format. Subclasses set `name` and implement setup, size and begin."""

    name: str = ""

    def setup(self, blob: bytes) -> tuple[bytes, frozenset[int]]:
        """Parse and validate `blob`; return (metadata bytes to cache, device indices used).
        Raises MappingError on any bad blob."""
        raise NotImplementedError

    def size(self, meta: MetaView) -> int:
        """File size in bytes recorded in the metadata."""
        raise NotImplementedError

    def begin(self, meta: MetaView, pos: int, length: int, flags: int) -> IoMap:
        """The mapping covering byte `pos` (at most `length` bytes when length > 0). A position
        outside the file raises MappingError."""
        raise NotImplementedError

    def begin_many(self, meta: MetaView, positions: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(device, address, contiguous bytes) for every position: int64 arrays. Formats
        override this with vectorized arithmetic; this fallback loops over begin()."""
        import numpy as np

        pos = np.asarray(positions, dtype=np.int64)
        dev = np.empty(pos.shape, np.int64)
        addr = np.empty(pos.shape, np.int64)
        run = np.empty(pos.shape, np.int64)
        for i, p in enumerate(pos.ravel().tolist()):
            m = self.begin(meta, p, 0, 0)
            try:
                dev.flat[i], addr.flat[i], run.flat[i] = m.dev, m.addr, m.length
            except OverflowError:
                raise MappingError(f"{self.name}: offset {p:#x} maps to {m.addr:#x}, beyond "
                                   f"64-bit signed device offsets") from None
        return dev, addr, run


_registry: dict[str, MappingFormat] = {}
_lock = threading.Lock()
_entry_points_loaded = False


def check_name(name: object) -> str:
    """`name` if it is a valid format name (1..15 bytes of UTF-8, no NUL)."""
    if not isinstance(name, str) or not name:
        raise MappingError(f"mapping format name {name!r} must be a non-empty string")
    raw = name.encode()
    if len(raw) > NAME_MAX or "\0" in name:
        raise MappingError(f"mapping format name {name!r} is {len(raw)} bytes; names are at most "
                           f"{NAME_MAX} bytes without NUL")
    return name


def register_format(fmt: MappingFormat) -> MappingFormat:
    """Add `fmt` to the registry. Registering the same object again is a no-op; another
    object under a taken name is an error."""
    name = check_name(getattr(fmt, "name", None))
    for op in ("setup", "size", "begin"):
        if not callable(getattr(fmt, op, None)):
            raise MappingError(f"mapping format {name!r} has no {op}()")
    with _lock:
        have = _registry.get(name)
        if have is not None and have is not fmt:
            raise MappingError(f"mapping format {name!r} is registered already")
        _registry[name] = fmt
    return fmt


def unregister_format(name: str) -> None:
    """Remove `name` from the registry (a later lookup may load it again from its plugin)."""
    with _lock:
        _registry.pop(name, None)


def _instantiate(obj: object, where: str) -> MappingFormat:
    if isinstance(obj, type):
        obj = obj()
    elif not isinstance(obj, MappingFormat) and callable(obj) and not hasattr(obj, "begin"):
        obj = obj()
    if not hasattr(obj, "begin"):
        raise MappingError(f"{where} does not load to a mapping format")
    return obj  # type: ignore[return-value]


def load_entry_points() -> list[str]:
    """Register every format of the `famfs.mapping_formats` entry-point group not registered
    yet; return the names added. A broken plugin raises MappingError naming its entry point."""
    global _entry_points_loaded
    # importlib.metadata costs about 12 ms to import: only looking for plugins needs it.
    from importlib import metadata

    names = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _registry:
            continue
        where = f"entry point {ep.name} = {ep.value} (group {ENTRY_POINT_GROUP})"
        try:
            obj = ep.load()
        except Exception as exc:
            raise MappingError(f"{where}: cannot load: {exc}") from None
        fmt = _instantiate(obj, where)
        if getattr(fmt, "name", None) != ep.name:
            raise MappingError(f"{where}: the format calls itself {fmt.name!r}")
        register_format(fmt)
        names.append(ep.name)
    _entry_points_loaded = True
    return names


def get_format(name: str) -> MappingFormat:
    """The format registered as `name`; installed plugins are looked up on a miss."""
    fmt = _registry.get(name)
    if fmt is None:
        load_entry_points()
        fmt = _registry.get(name)
    if fmt is None:
        raise MappingError(f"no mapping format named {name!r} (known: "
                           f"{', '.join(sorted(_registry)) or 'none'})")
    return fmt


def format_names() -> list[str]:
    """Names of every registered format, plugins included."""
    if not _entry_points_loaded:
        load_entry_points()
    return sorted(_registry)
