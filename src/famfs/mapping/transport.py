"""How map and device requests reach a server.

A transport carries the requests a client sends: GET_FMAP for a file, GET_DAXDEV for a device
index, and optionally one combined setup request. Two transports exist: in process (straight
to a MapServer), and through the extended attributes a famfs FUSE mount serves:

- `user.famfs.fmap` on every regular file: its GET_FMAP reply
- `user.famfs.daxdev.<N>` on the mount root: the GET_DAXDEV reply for device index N
- `user.famfs.logplay` on the mount root: replay the log now ("ENTRIES NEW_FILES NEW_DIRS")
"""

from __future__ import annotations

import errno
import os
from typing import Protocol

from famfs.errors import NotFoundError
from famfs.mapping.iomap import MappingError
from famfs.mapping.server import MapServer
from famfs.mapping.wire import DAXDEV_REPLY_SIZE, encode_setup_reply
from famfs.omf.layout import MAX_DEVICES

FMAP_XATTR = "user.famfs.fmap"
DAXDEV_XATTR_PREFIX = "user.famfs.daxdev."
LOGPLAY_XATTR = "user.famfs.logplay"


class Transport(Protocol):
    """Requests a client sends; each call is one round trip to the server."""

    def get_fmap(self, relpath: str) -> bytes: ...

    def get_daxdev(self, index: int) -> bytes: ...

    def get_setup(self, relpath: str) -> bytes: ...

    def device_indices(self) -> list[int]: ...


class InProcessTransport:
    """Requests answered by a MapServer in this process."""

    def __init__(self, server: MapServer) -> None:
        self.server = server

    def get_fmap(self, relpath: str) -> bytes:
        return self.server.get_fmap(relpath)

    def get_daxdev(self, index: int) -> bytes:
        return self.server.get_daxdev(index)

    def get_setup(self, relpath: str) -> bytes:
        return self.server.get_setup(relpath)

    def device_indices(self) -> list[int]:
        return self.server.device_indices()


class XattrTransport:
    """Requests answered by a famfs FUSE mount at `mountpoint`, through extended attributes."""

    def __init__(self, mountpoint: str) -> None:
        self.mountpoint = mountpoint

    def _getxattr(self, path: str, name: str, what: str) -> bytes:
        try:
            return os.getxattr(path, name)
        except FileNotFoundError:
            raise NotFoundError(f"{path}: no such file or directory") from None
        except OSError as exc:
            if exc.errno in (errno.ENODATA, errno.ENOTSUP):
                raise MappingError(f"{path}: no {name} attribute: {what}") from None
            raise MappingError(f"{path}: reading {name}: {exc.strerror}",
                               exc.errno or errno.EIO) from None

    def get_fmap(self, relpath: str) -> bytes:
        path = os.path.join(self.mountpoint, relpath)
        return self._getxattr(path, FMAP_XATTR, "not a regular file of a famfs mount")

    def get_daxdev(self, index: int) -> bytes:
        blob = self._getxattr(self.mountpoint, f"{DAXDEV_XATTR_PREFIX}{index}",
                              f"device index {index} is not a device of this mount")
        if len(blob) != DAXDEV_REPLY_SIZE:
            raise MappingError(f"{self.mountpoint}: {DAXDEV_XATTR_PREFIX}{index} is "
                               f"{len(blob)} bytes, not {DAXDEV_REPLY_SIZE}")
        return blob

    def get_setup(self, relpath: str) -> bytes:
        """Emulated: the mount serves no combined request, so this is 1 + devices trips."""
        from famfs.mapping.mapped import map_file

        fmap = self.get_fmap(relpath)
        devices = sorted(map_file(fmap).devices)
        return encode_setup_reply(fmap, [self.get_daxdev(i) for i in devices])

    def device_indices(self) -> list[int]:
        try:
            names = os.listxattr(self.mountpoint)
        except OSError as exc:
            raise MappingError(f"{self.mountpoint}: listing attributes: {exc.strerror}") from None
        out = []
        for name in names:
            if name.startswith(DAXDEV_XATTR_PREFIX):
                suffix = name[len(DAXDEV_XATTR_PREFIX):]
                if suffix.isdigit() and int(suffix) < MAX_DEVICES:
                    out.append(int(suffix))
        return sorted(out) or [0]

    def logplay(self) -> tuple[int, int, int]:
        """Ask the server to replay the log now: (entries, new files, new directories)."""
        raw = self._getxattr(self.mountpoint, LOGPLAY_XATTR, "not a famfs mount root")
        try:
            entries, files, dirs = (int(x) for x in raw.decode().split())
        except ValueError:
            raise MappingError(f"{self.mountpoint}: {LOGPLAY_XATTR} returned {raw!r}") from None
        return entries, files, dirs
