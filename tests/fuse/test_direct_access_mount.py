"""`famfs.open` of a path inside a real mount: maps come through the mount's extended attributes
(`user.famfs.fmap`, `user.famfs.daxdev.N`) once, then reads and writes go straight to the
device with no round trip at all (they work while the server is stopped)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

import famfs
from conftest import Mounter, fill, populate
from famfs.access import connection_for, open_on, release_connections
from famfs.fs.filesystem import Filesystem
from famfs.mapping.client import Connection
from famfs.mapping.transport import XattrTransport
from famfs.mapping.wire import decode_get_daxdev, encode_get_fmap
from famfs.omf.layout import MiB

pytestmark = pytest.mark.fuse

FILES = {"one": (3 * MiB + 5, 0o644, 0, 0), "two": (4096, 0o644, 0, 0),
         "d/three": (2 * MiB, 0o644, 0, 0)}


class CountingTransport(XattrTransport):
    """The mount's xattr transport, counting the getxattr(2) calls that really happen."""

    def __init__(self, mountpoint: str) -> None:
        super().__init__(mountpoint)
        self.calls: list[str] = []

    def _getxattr(self, path: str, name: str, what: str) -> bytes:
        self.calls.append(name)
        return super()._getxattr(path, name, what)


@pytest.fixture
def mounted(mounter: Mounter, famfs_image: str) -> str:
    populate(famfs_image, FILES, {"d": (0o755, 0, 0)})
    mp, _ = mounter.mount(famfs_image)
    yield mp
    release_connections()


def test_xattrs_carry_the_get_fmap_and_get_daxdev_replies(mounted: str,
                                                           famfs_image: str) -> None:
    with Filesystem(famfs_image) as fs:
        for path in FILES:
            got = os.getxattr(os.path.join(mounted, path), "user.famfs.fmap")
            assert got == encode_get_fmap(fs.file(path).entry)
    dev = decode_get_daxdev(os.getxattr(mounted, "user.famfs.daxdev.0"))
    assert (dev.index, dev.name) == (0, os.path.abspath(famfs_image))


def test_famfs_open_in_a_mount_reads_the_files_bytes(mounted: str) -> None:
    for tag, (path, (size, _, _, _)) in enumerate(FILES.items(), 1):
        with famfs.open(os.path.join(mounted, path)) as fh:
            assert fh.read() == fill(tag, size)
            assert bytes(fh.view()) == fill(tag, size)


def test_first_open_costs_one_fmap_and_one_daxdev_then_nothing(mounted: str) -> None:
    transport = CountingTransport(mounted)
    conn = Connection(transport)
    with open_on(conn, "one") as fh:
        fh.read()
    assert transport.calls == ["user.famfs.fmap", "user.famfs.daxdev.0"]
    assert (conn.round_trips.fmap, conn.round_trips.daxdev) == (1, 1)
    for _ in range(5):
        with open_on(conn, "one") as fh:
            fh.seek(MiB)
            fh.read(4096)
    assert len(transport.calls) == 2
    with open_on(conn, "d/three") as fh:
        assert fh.read() == fill(3, 2 * MiB)
    assert transport.calls[2:] == ["user.famfs.fmap"]
    assert (conn.round_trips.fmap, conn.round_trips.daxdev) == (2, 1)


def test_famfs_open_shares_one_connection_per_mount(mounted: str) -> None:
    conn = connection_for(mounted)
    assert conn.round_trips.total == 0
    for path in FILES:
        for _ in range(3):
            with famfs.open(os.path.join(mounted, path)) as fh:
                fh.read(100)
    assert (conn.round_trips.fmap, conn.round_trips.daxdev) == (len(FILES), 1)


def test_reads_need_no_server_once_the_map_is_cached(mounter: Mounter, mounted: str) -> None:
    fh = famfs.open(os.path.join(mounted, "one"))
    pid = mounter.server_pid(mounted)
    result: list[bytes] = []
    os.kill(pid, signal.SIGSTOP)
    try:
        reader = threading.Thread(target=lambda: result.append(fh.read()))
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), "a read waited for the stopped server"
    finally:
        os.kill(pid, signal.SIGCONT)
    fh.close()
    assert result == [fill(1, FILES["one"][0])]


def test_writes_through_famfs_open_are_seen_through_the_mount(mounted: str) -> None:
    data = b"written straight to the device" * 200
    with famfs.open(os.path.join(mounted, "two"), "r+b") as fh:
        fh.seek(10)
        assert fh.write(data[:4000]) == 4000
    with open(os.path.join(mounted, "two"), "rb") as plain:
        got = plain.read()
    assert got[10:4010] == data[:4000] and got[:10] == fill(2, 4096)[:10]
