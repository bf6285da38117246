"""Making files on the wire, against the simulated famfs-capable kernel (tests/fuse/simulator.py):
a real session serving a real image over a socket pair, for every revision of the extension.

A file that is not logged yet has no map: GET_FMAP is refused, so a kernel that caches maps
falls back to READ and WRITE requests for it, and can never keep a map that later changes. Once
the file's last RELEASE has been answered and the file is logged, its map is served like any
other file's and never changes again.
"""

from __future__ import annotations

import os

import pytest
from simulator import FamfsKernelClient, serve

from conftest import fill, wait_for
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import File
from famfs.fuse import wire
from famfs.fuse.famfs_ext import REVISIONS
from famfs.mapping.mapped import map_file
from famfs.mapping.wire import encode_get_fmap, encode_unrolled_fmap
from famfs.omf.layout import MiB


@pytest.fixture
def image(image_path: str) -> str:
    mkfs(image_path, size=64 * MiB)
    return image_path


def create(sim, parent: int, name: str, mode: int = 0o644) -> tuple[wire.EntryOut, wire.OpenOut]:
    body = wire.CreateIn(os.O_WRONLY | os.O_CREAT, mode, 0o022, 0).pack() + name.encode() + b"\0"
    reply = sim.request(wire.Opcode.CREATE, parent, body).ok()
    return wire.EntryOut.unpack(reply), wire.OpenOut.unpack(reply, wire.EntryOut.SIZE)


def write(sim, nodeid: int, fh: int, offset: int, data: bytes) -> int:
    """WRITE requests of at most 1 MiB each (the session's max_write), as the kernel splits
    them; returns the bytes written."""
    done = 0
    for pos in range(0, len(data), MiB):
        chunk = data[pos:pos + MiB]
        body = wire.WriteIn(fh, offset + pos, len(chunk), 0, 0, os.O_WRONLY).pack() + chunk
        done += wire.WriteOut.unpack(sim.request(wire.Opcode.WRITE, nodeid, body).ok()).size
    return done


def logged_file(image: str, relpath: str) -> File | None:
    with Filesystem(image) as fs:
        node = fs.namespace.find(relpath)
        return node if isinstance(node, File) else None


@pytest.mark.parametrize("protocol", ["v10", "early", "push"])
def test_a_file_has_no_map_until_it_is_logged_and_then_the_logged_one(image, protocol):
    rev = REVISIONS[protocol]
    data = fill(4, 3 * MiB + 11)
    with serve(image, protocol) as s:
        s.init(rev)
        kernel = FamfsKernelClient(s.sim, rev)
        try:
            entry, opened = create(s.sim, wire.ROOT_ID, "made")
            assert entry.attr.size == 0 and entry.attr.mode & 0o7777 == 0o644
            assert kernel.get_fmap(entry.nodeid).error  # not logged: no map to cache
            assert write(s.sim, entry.nodeid, opened.fh, 0, data) == len(data)
            assert kernel.get_fmap(entry.nodeid).error
            assert s.sim.read(entry.nodeid, opened.fh, MiB, 16) == data[MiB:MiB + 16]
            s.sim.release(entry.nodeid, opened.fh)
            assert wait_for(lambda: logged_file(image, "made") is not None, 5.0)
            node = logged_file(image, "made")
            assert node is not None and node.size == len(data)
            blob = kernel.get_fmap(entry.nodeid).ok()
            want = encode_unrolled_fmap(node.entry) if rev.push else encode_get_fmap(node.entry)
            assert blob == want
            assert map_file(blob, "famfs_unrolled" if rev.push else None).size == len(data)
            kernel.open(entry.nodeid, size=len(data))
            assert kernel.read(entry.nodeid, 0, len(data)) == data
        finally:
            kernel.close()


def test_a_file_reopened_before_it_is_logged_waits_for_its_new_last_release(image):
    with serve(image) as s:
        s.sim.init()
        entry, first = create(s.sim, wire.ROOT_ID, "twice")
        second = s.sim.open(entry.nodeid, os.O_WRONLY)
        write(s.sim, entry.nodeid, first.fh, 0, b"first")
        s.sim.release(entry.nodeid, first.fh)
        assert not wait_for(lambda: logged_file(image, "twice") is not None, 0.5)
        write(s.sim, entry.nodeid, second.fh, 5, b" second")
        s.sim.release(entry.nodeid, second.fh)
        assert wait_for(lambda: logged_file(image, "twice") is not None, 5.0)
        node = logged_file(image, "twice")
        assert node is not None and node.size == len(b"first second")


def test_files_still_pending_when_the_connection_ends_are_logged(image):
    with serve(image) as s:
        s.sim.init()
        entry, opened = create(s.sim, wire.ROOT_ID, "left-open")
        write(s.sim, entry.nodeid, opened.fh, 0, b"no release came")
    node = logged_file(image, "left-open")
    assert node is not None and node.size == len(b"no release came")
