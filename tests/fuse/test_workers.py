"""How a live mount's workers share requests (in-process server on a real /dev/fuse).

One worker blocks in read(2); helpers with cloned descriptors wake only when requests wait. A
request that takes long must not hold up the others: an idle helper notices the stuck reader
and serves what waits.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import fill, populate
from famfs.fs.filesystem import Filesystem
from famfs.fuse import wire
from famfs.fuse.mount import MountRequest, Server
from famfs.fuse.ops import MountOptions
from famfs.fuse.session import Request
from famfs.omf.layout import MiB

SLOW_XATTR = "user.test.slow"
IDLE_S = 0.5


@pytest.fixture
def server(need_fuse: None, famfs_image: str, tmp_path: Path):
    populate(famfs_image, {"data": (2 * MiB, 0o644, 0, 0)})
    mp = tmp_path / f"mnt-{uuid.uuid4().hex[:8]}"
    mp.mkdir()
    fs = Filesystem(famfs_image, writable=True)
    srv = Server(MountRequest(famfs_image, str(mp), MountOptions()), fs)
    srv.mount()
    try:
        yield srv
    finally:
        srv.shutdown()
        fs.close()


def test_live_mount_serves_with_one_reader_and_cloned_helpers(server):
    session = server.session
    assert session is not None and len(session.helper_fds) == session.workers - 1 > 0


def test_an_idle_mount_sleeps_once_its_busy_polling_ends(server):
    session = server.session
    assert session is not None and session.busy_poll > 0
    with open(os.path.join(server.req.mountpoint, "data"), "rb") as fh:
        assert fh.read() == fill(1, 2 * MiB)
    before = os.times()
    time.sleep(IDLE_S)
    after = os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    # Polling is bounded by busy_poll after each reply; a loop that never slept would use
    # about IDLE_S of CPU time here.
    assert cpu < IDLE_S / 5


def test_a_slow_request_does_not_hold_up_reads_from_other_threads(server):
    session = server.session
    assert session is not None
    release = threading.Event()
    entered = threading.Event()
    getxattr = session.handlers[wire.Opcode.GETXATTR]

    def slow_getxattr(req: Request):
        if bytes(req.body[wire.GetxattrIn.SIZE:]).rstrip(b"\0") == SLOW_XATTR.encode():
            entered.set()
            release.wait(10)
        return getxattr(req)

    session.register(wire.Opcode.GETXATTR, slow_getxattr)
    mp = server.req.mountpoint
    errors: list[BaseException] = []

    def ask_slowly() -> None:
        try:
            os.getxattr(mp, SLOW_XATTR)
        except OSError:
            pass  # ENODATA once released
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    slow = threading.Thread(target=ask_slowly)
    slow.start()
    try:
        assert entered.wait(5), "the slow request never reached the server"
        for _ in range(3):
            with open(os.path.join(mp, "data"), "rb") as fh:
                assert fh.read() == fill(1, 2 * MiB)
        assert not release.is_set() and slow.is_alive()
    finally:
        release.set()
        slow.join(10)
    assert not errors
