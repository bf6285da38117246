"""INIT negotiation with the running kernel, observed on an in-process server."""

from __future__ import annotations

import collections
import mmap
import os

import pytest

from conftest import force_unmount, populate
from famfs.fuse.mount import MountRequest, Server, check_request, open_filesystem
from famfs.fuse.ops import MountOptions
from famfs.fuse.wire import InitFlag, Opcode, ReadIn
from famfs.omf.layout import MiB

pytestmark = pytest.mark.fuse


@pytest.fixture
def server(need_fuse, famfs_image, tmp_path):
    """A server mounted in this process; always unmounted and stopped afterwards."""
    populate(famfs_image, {"big": (3 * MiB, 0o644, 0, 0)})
    mp = tmp_path / "mnt"
    mp.mkdir()
    req = check_request(MountRequest(famfs_image, str(mp), MountOptions(), workers=4))
    srv = Server(*open_filesystem(req))
    try:
        srv.mount()
        yield srv
    finally:
        srv.shutdown()
        force_unmount(str(mp))
        srv.fs.close()


def test_kernel_grants_big_requests_async_reads_parallel_dirops_and_mmap(server):
    offered = server.session.init_in.all_flags
    granted = server.session.granted
    assert granted & ~InitFlag.INIT_EXT & ~offered == 0, "granted a flag the kernel did not offer"
    for flag in (InitFlag.MAX_PAGES, InitFlag.ASYNC_READ, InitFlag.PARALLEL_DIROPS,
                 InitFlag.DIRECT_IO_ALLOW_MMAP):
        if offered & flag:
            assert granted & flag, hex(flag)
    assert server.session.proto_minor == min(server.session.init_in.minor, 45)


def test_a_one_mebibyte_read_arrives_as_one_request(server):
    sizes: collections.Counter[int] = collections.Counter()
    read = server.session.handlers[Opcode.READ]

    def counting(req):
        sizes[ReadIn.unpack(req.body).size] += 1
        return read(req)

    server.session.register(Opcode.READ, counting)
    fd = os.open(os.path.join(server.req.mountpoint, "big"), os.O_RDONLY)
    try:
        with mmap.mmap(-1, MiB) as page_aligned:
            assert os.preadv(fd, [page_aligned], 0) == MiB
    finally:
        os.close(fd)
    assert sizes == {MiB: 1}


def test_unmount_ends_the_request_loop(server):
    force_unmount(server.req.mountpoint)
    assert server.session.join(5.0)
    assert server.session.stop_reason == "unmounted"
