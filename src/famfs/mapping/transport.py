"""How map and device requests reach a server.

A transport carries the requests a client sends: GET_FMAP for a file, GET_DAXDEV for a device
index, and optionally one combined setup request. Two transports exist: in process (straight
to a map server, famfs.mapping.server.MapServer, or anything that answers the same calls),
and through the extended attributes a famfs FUSE mount serves (their names are in
famfs.mapping.protocol). Neither needs the filesystem layer: this is the client's half.
"""

from __future__ import annotations

import errno
import os
from typing import Protocol

from famfs.errors import NotFoundError
from famfs.mapping.iomap import MappingError
from famfs.mapping.protocol import (
    FMAP_XATTR,
    LOGPLAY_XATTR,
    LogplayReply,
    daxdev_index,
    daxdev_xattr,
)
from famfs.mapping.wire import DAXDEV_REPLY_SIZE, encode_setup_reply


class Transport(Protocol):
    """Requests a client sends; each call is one round trip to the server."""

    def get_fmap(self, relpath: str) -> bytes: ...

    def get_daxdev(self, index: int) -> bytes: ...

    def get_setup(self, relpath: str) -> bytes: ...

    def device_indices(self) -> list[int]: ...


class InProcessTransport:
    """Requests answered by a map server in this process (every call is a Transport call)."""

    def __init__(self, server: Transport) -> None:
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
        blob = self._getxattr(self.mountpoint, daxdev_xattr(index),
                              f"device index {index} is not a device of this mount")
        if len(blob) != DAXDEV_REPLY_SIZE:
            raise MappingError(f"{self.mountpoint}: {daxdev_xattr(index)} is "
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
            index = daxdev_index(name)
            if index is not None:
                out.append(index)
        return sorted(out) or [0]

    def logplay(self) -> LogplayReply:
        """Ask the server to replay the log now: (entries, new files, new directories)."""
        raw = self._getxattr(self.mountpoint, LOGPLAY_XATTR, "not a famfs mount root")
        try:
            return LogplayReply.decode(raw)
        except MappingError as exc:
            raise exc.with_message(f"{self.mountpoint}: {exc}") from None
