"""The server side of the mapping protocol: GET_FMAP and GET_DAXDEV replies from the log.

A MapServer answers for one replayed famfs (famfs.fs.filesystem.Filesystem). Paths are relative
to the filesystem root; `.meta/.superblock` and `.meta/.log` name the metadata files a mount
exposes. A path not yet known triggers one replay of the log before it is declared missing.
"""

from __future__ import annotations

import os
import threading

from famfs.errors import NotFoundError
from famfs.fs.filesystem import Filesystem
from famfs.mapping.iomap import MappingError
from famfs.mapping.protocol import LOG_FILE, SUPERBLOCK_FILE
from famfs.mapping.wire import (
    FileType,
    encode_get_daxdev,
    encode_get_fmap,
    encode_meta_fmap,
    encode_setup_reply,
)
from famfs.omf.layout import MAX_DEVICES, SUPERBLOCK_REGION


class MapServer:
    """Answers map and device requests for `fs`.

    `device_paths` names devices other than index 0 (the log records them by UUID only);
    device 0 is the path `fs` was opened with, made absolute.
    """

    def __init__(self, fs: Filesystem, device_paths: dict[int, str] | None = None) -> None:
        self.fs = fs
        self.device_paths = {0: os.path.abspath(fs.path)}
        self.device_paths.update(device_paths or {})
        self._lock = threading.Lock()

    def _entry_blob(self, relpath: str) -> tuple[bytes, set[int]]:
        """The GET_FMAP reply for `relpath` and the device indices its map uses."""
        rel = relpath.strip("/")
        if rel == SUPERBLOCK_FILE:
            return encode_meta_fmap(FileType.SUPERBLOCK, 0, SUPERBLOCK_REGION,
                                    SUPERBLOCK_REGION), {0}
        if rel == LOG_FILE:
            sb = self.fs.sb
            return encode_meta_fmap(FileType.LOG, sb.log_offset, sb.log_len, sb.log_len), {0}
        with self._lock:
            try:
                node = self.fs.file(rel)
            except NotFoundError:
                self.fs.refresh()
                node = self.fs.file(rel)
        devices = {e.devindex for e in node.entry.fmap.all_extents()}
        return encode_get_fmap(node.entry), devices

    def get_fmap(self, relpath: str) -> bytes:
        """The GET_FMAP reply for the file at `relpath`; NotFoundError if there is none."""
        return self._entry_blob(relpath)[0]

    def get_daxdev(self, index: int) -> bytes:
        """The GET_DAXDEV reply for device `index`; MappingError if the index is unknown."""
        if not 0 <= index < MAX_DEVICES:
            raise MappingError(f"device index {index} is not in 0..{MAX_DEVICES - 1}")
        path = self.device_paths.get(index)
        if path is None:
            raise MappingError(f"device index {index} is not a known device of "
                               f"{self.device_paths[0]}")
        return encode_get_daxdev(index, path)

    def device_indices(self) -> list[int]:
        """Indices of every device this server can name (what a push sends)."""
        return sorted(self.device_paths)

    def get_setup(self, relpath: str) -> bytes:
        """The map of `relpath` and the device replies of every device it uses, in one reply."""
        blob, devices = self._entry_blob(relpath)
        return encode_setup_reply(blob, [self.get_daxdev(i) for i in sorted(devices)])
