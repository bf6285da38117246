"""The server side of the mapping protocol: every map and every device a famfs serves.

A MapServer answers for one replayed famfs (famfs.fs.filesystem.Filesystem) and is the one
owner of what the protocol says about it: the GET_FMAP reply of each logged file and of the
`.meta` files (their extents, file types and sizes), the parsed map of a file (MappedFile),
the simple-extent map the newest kernel revision takes (interleaved files unrolled), and the
GET_DAXDEV reply of every device index. Paths are relative to the filesystem root; a path not
yet known triggers one replay of the log before it is declared missing. Devices come from the
filesystem's device table (the paths the mount was given, or found by UUID).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from famfs.errors import NotFoundError
from famfs.fs.filesystem import Filesystem
from famfs.fs.namespace import File
from famfs.mapping.iomap import MappingError
from famfs.mapping.mapped import MappedFile, map_file
from famfs.mapping.protocol import LOG_FILE, LOG_NAME, SUPERBLOCK_FILE, SUPERBLOCK_NAME
from famfs.mapping.wire import (
    FileType,
    encode_get_daxdev,
    encode_get_fmap,
    encode_meta_fmap,
    encode_setup_reply,
    encode_unrolled_fmap,
    meta_simple_fmap,
)
from famfs.omf.layout import MAX_DEVICES, META_DIR, SUPERBLOCK_REGION


@dataclass(frozen=True)
class MetaFile:
    """A `.meta` file: `length` bytes at byte `offset` of device 0, `size` bytes long."""

    name: str
    file_type: FileType
    offset: int
    length: int
    size: int

    @property
    def relpath(self) -> str:
        return f"{META_DIR}/{self.name}"

    def fmap(self) -> bytes:
        return encode_meta_fmap(self.file_type, self.offset, self.length, self.size)


class MapServer:
    """Answers map and device requests for `fs`.

    `device_paths` overrides where devices are (index to path); otherwise each device's path is
    the one the filesystem's device table finds (device 0: the path `fs` was opened with).
    """

    def __init__(self, fs: Filesystem, device_paths: Mapping[int, str] | None = None) -> None:
        self.fs = fs
        self.device_paths = dict(device_paths or {})
        self._lock = threading.Lock()

    # --- the .meta files ----------------------------------------------------------------

    def meta_files(self) -> list[MetaFile]:
        """`.meta/.superblock` (the superblock region) and `.meta/.log` (the log)."""
        sb = self.fs.sb
        return [MetaFile(SUPERBLOCK_NAME, FileType.SUPERBLOCK, 0, SUPERBLOCK_REGION,
                         SUPERBLOCK_REGION),
                MetaFile(LOG_NAME, FileType.LOG, sb.log_offset, sb.log_len, sb.log_len)]

    def meta_file(self, name: str) -> MetaFile | None:
        """The `.meta` file called `name` (in the `.meta` directory), or None."""
        for meta in self.meta_files():
            if meta.name == name:
                return meta
        return None

    # --- file maps ----------------------------------------------------------------------

    def node(self, relpath: str) -> File:
        """The logged file at `relpath`, replaying the log once if it is not known yet;
        NotFoundError if there is none."""
        rel = relpath.strip("/")
        with self._lock:
            try:
                return self.fs.file(rel)
            except NotFoundError:
                self.fs.refresh()
                return self.fs.file(rel)

    def _meta_for(self, relpath: str) -> MetaFile | None:
        rel = relpath.strip("/")
        if rel in (SUPERBLOCK_FILE, LOG_FILE):
            return self.meta_file(rel.rsplit("/", 1)[1])
        return None

    def get_fmap(self, relpath: str) -> bytes:
        """The GET_FMAP reply for the file at `relpath`; NotFoundError if there is none."""
        meta = self._meta_for(relpath)
        if meta is not None:
            return meta.fmap()
        return encode_get_fmap(self.node(relpath).entry)

    def fmap_of(self, node: File) -> bytes:
        """The GET_FMAP reply of logged file `node`."""
        return encode_get_fmap(node.entry)

    def get_simple_fmap(self, relpath: str) -> bytes:
        """The map of `relpath` as simple extents only (the newest kernel revision): an
        interleaved file unrolled into uniform chunk-size extents (wire.encode_unrolled_fmap)."""
        meta = self._meta_for(relpath)
        if meta is not None:
            return meta_simple_fmap(meta.fmap())
        return encode_unrolled_fmap(self.node(relpath).entry)

    def mapped(self, relpath: str) -> MappedFile:
        """The parsed map of `relpath` (not cached here: the caller caches it on its inode)."""
        return map_file(self.get_fmap(relpath))

    def devices_of(self, relpath: str) -> set[int]:
        """The device indices the map of `relpath` uses."""
        meta = self._meta_for(relpath)
        if meta is not None:
            return {0}
        return {e.devindex for e in self.node(relpath).entry.fmap.all_extents()}

    # --- devices ------------------------------------------------------------------------

    def device_indices(self) -> list[int]:
        """Indices of every device of the filesystem (what a push sends)."""
        return sorted(self.fs.device_sizes)

    def device_path(self, index: int) -> str:
        """The local path of device `index` (MappingError if the log names no such device;
        MissingDeviceError, naming its UUID, if this host has none)."""
        if not 0 <= index < MAX_DEVICES:
            raise MappingError(f"device index {index} is not in 0..{MAX_DEVICES - 1}")
        if index not in self.fs.device_sizes:
            self.fs.refresh()
            if index not in self.fs.device_sizes:
                raise MappingError(f"device index {index} is not a known device of "
                                   f"{self.fs.path}")
        given = self.device_paths.get(index)
        if given is not None:
            return given
        return self.fs.devices.path(index)

    def get_daxdev(self, index: int) -> bytes:
        """The GET_DAXDEV reply for device `index`."""
        return encode_get_daxdev(index, self.device_path(index))

    def get_setup(self, relpath: str) -> bytes:
        """The map of `relpath` and the device replies of every device it uses, in one reply."""
        blob = self.get_fmap(relpath)
        return encode_setup_reply(blob, [self.get_daxdev(i)
                                         for i in sorted(self.devices_of(relpath))])
