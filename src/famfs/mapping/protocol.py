"""The famfs mount protocol as user space sees it: extended attribute names, the `.meta`
files, and the logplay reply. The server (famfs.fuse, famfs.mapping.server) and every client
(famfs.mapping.transport, the command line) take these from here.

- `user.famfs.fmap` on every regular file: its GET_FMAP reply
- `user.famfs.daxdev.<N>` on the mount root: the GET_DAXDEV reply for device index N
- `user.famfs.logplay` on the mount root: replay the log now; the value is the logplay reply,
  "ENTRIES NEW_FILES NEW_DIRS" in ASCII decimal
- `.meta/.superblock` and `.meta/.log` in the mount root: the superblock region and the log
"""

from __future__ import annotations

from typing import NamedTuple

from famfs.mapping.iomap import MappingError
from famfs.omf.layout import MAX_DEVICES, META_DIR

FMAP_XATTR = "user.famfs.fmap"
DAXDEV_XATTR_PREFIX = "user.famfs.daxdev."
LOGPLAY_XATTR = "user.famfs.logplay"

SUPERBLOCK_NAME = ".superblock"
LOG_NAME = ".log"
SUPERBLOCK_FILE = f"{META_DIR}/{SUPERBLOCK_NAME}"
LOG_FILE = f"{META_DIR}/{LOG_NAME}"


def daxdev_xattr(index: int) -> str:
    """The attribute name that carries device `index`'s GET_DAXDEV reply."""
    return f"{DAXDEV_XATTR_PREFIX}{index}"


def daxdev_index(name: str) -> int | None:
    """The device index named by attribute `name`, or None if it names no device."""
    if not name.startswith(DAXDEV_XATTR_PREFIX):
        return None
    suffix = name[len(DAXDEV_XATTR_PREFIX):]
    if not suffix.isdigit() or suffix != str(int(suffix)) or int(suffix) >= MAX_DEVICES:
        return None
    return int(suffix)


class LogplayReply(NamedTuple):
    """What one replay did: entries in the log, files and directories that were new."""

    entries: int
    new_files: int
    new_directories: int

    def encode(self) -> bytes:
        return f"{self.entries} {self.new_files} {self.new_directories}".encode()

    @classmethod
    def decode(cls, raw: bytes) -> LogplayReply:
        """Parse a `user.famfs.logplay` value; MappingError if it is not one."""
        parts = raw.decode("ascii", errors="replace").split()
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise MappingError(f"unexpected {LOGPLAY_XATTR} reply {raw[:40]!r}")
        return cls(*(int(p) for p in parts))
