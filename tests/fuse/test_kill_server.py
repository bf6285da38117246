"""A mount whose server is killed (SIGKILL): `famfs umount` cleans up, and a remount shows every
file and every byte as it was, because everything lives on the device, not in the server."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import threading

import numpy as np
import pytest

from conftest import Mounter, fill, is_mounted, populate, wait_for
from famfs.omf.layout import MiB

pytestmark = pytest.mark.fuse

GONE = (errno.ENOTCONN, errno.ECONNABORTED)
"""What a request gets from a dead server: ECONNABORTED if it was in flight, ENOTCONN after."""

DIRS = {"a": (0o755, 0, 0), "a/b": (0o750, 12, 34)}
FILES = {
    "top": (4096, 0o644, 0, 0),
    "a/mid": (2 * MiB + 1, 0o640, 5, 6),
    "a/b/deep": (5 * MiB, 0o600, 7, 8),
    "empty-ish": (1, 0o444, 0, 0),
}


def check_everything(mp: str) -> None:
    """Every logged name, attribute and byte is visible through the mount at `mp`."""
    for path, (mode, uid, gid) in DIRS.items():
        st = os.stat(os.path.join(mp, path))
        assert stat.S_ISDIR(st.st_mode) and (stat.S_IMODE(st.st_mode), st.st_uid,
                                             st.st_gid) == (mode, uid, gid)
    for tag, (path, (size, mode, uid, gid)) in enumerate(FILES.items(), 1):
        full = os.path.join(mp, path)
        st = os.stat(full)
        assert (st.st_size, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (size, mode,
                                                                                 uid, gid)
        with open(full, "rb") as fh:
            assert fh.read() == fill(tag, size), f"{path}: bytes differ"
    assert sorted(os.listdir(mp)) == [".meta", "a", "empty-ish", "top"]
    assert sorted(os.listdir(os.path.join(mp, "a"))) == ["b", "mid"]


@pytest.fixture
def image(famfs_image: str) -> str:
    populate(famfs_image, FILES, DIRS)
    return famfs_image


def kill_server(mounter: Mounter, mp: str) -> int:
    pid = mounter.server_pid(mp)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}/cmdline")
                    or open(f"/proc/{pid}/stat").read().split(") ")[-1][:1] in "ZX", 5.0)
    return pid


def test_killed_server_leaves_a_stale_mount_that_umount_removes(mounter: Mounter, image: str,
                                                                cli) -> None:
    mp, _ = mounter.mount(image)
    check_everything(mp)
    kill_server(mounter, mp)
    with pytest.raises(OSError) as info:
        with open(os.path.join(mp, "top"), "rb") as fh:
            fh.read()
    assert info.value.errno in GONE
    proc = cli("umount", mp)
    assert proc.returncode == 0, proc.stderr
    assert not is_mounted(mp)
    mounter.mount(image, mountpoint=mp)
    check_everything(mp)


def test_umount_detaches_a_killed_mount_that_still_has_open_files(mounter: Mounter, image: str,
                                                                  cli) -> None:
    mp, _ = mounter.mount(image)
    held = os.open(os.path.join(mp, "a/b/deep"), os.O_RDONLY)
    try:
        assert os.read(held, 4096) == fill(3, 5 * MiB)[:4096]
        kill_server(mounter, mp)
        with pytest.raises(OSError) as info:
            os.read(held, 4096)
        assert info.value.errno in GONE
        proc = cli("umount", mp)
        assert proc.returncode == 0, proc.stderr
        assert not is_mounted(mp)
    finally:
        with contextlib.suppress(OSError):  # the flush on close fails too: no server
            os.close(held)
    mounter.mount(image, mountpoint=mp)
    check_everything(mp)


def test_kill_during_reads_and_writes_loses_nothing_that_was_written(mounter: Mounter,
                                                                     image: str, cli) -> None:
    """Readers and a writer are busy when the server dies; after umount and remount, every
    read-only file is intact and the written file holds, in every 8-byte word, either its old
    bytes or the new ones (a write in flight may have landed in part, but nothing else)."""
    mp, _ = mounter.mount(image)
    target = os.path.join(mp, "a/b/deep")
    size = FILES["a/b/deep"][0]
    old = fill(3, size)
    new = fill(99, size)
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            fd = os.open(target, os.O_WRONLY)
        except OSError as exc:
            failures.append(exc)
            return
        try:
            pos = 0
            while not stop.is_set():
                os.pwrite(fd, new[pos:pos + 64 * 1024], pos)
                pos = (pos + 64 * 1024) % size
        except OSError as exc:
            if exc.errno not in GONE:
                failures.append(exc)
        finally:
            with contextlib.suppress(OSError):  # no server to flush to
                os.close(fd)

    def reader() -> None:
        try:
            while not stop.is_set():
                with open(os.path.join(mp, "a/mid"), "rb") as fh:
                    assert fh.read() == fill(2, FILES["a/mid"][0])
        except OSError as exc:
            if exc.errno not in GONE:
                failures.append(exc)
        except AssertionError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader)
                                                   for _ in range(3)]
    for t in threads:
        t.start()
    try:
        threading.Event().wait(1.0)
        kill_server(mounter, mp)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not failures, failures
    assert cli("umount", mp).returncode == 0
    mounter.mount(image, mountpoint=mp)
    with open(target, "rb") as fh:
        got = fh.read()
    assert len(got) == size
    words, old_w, new_w = (np.frombuffer(b[:size // 8 * 8], dtype="<u8")
                           for b in (got, old, new))
    bad = np.flatnonzero((words != old_w) & (words != new_w))
    assert not len(bad), f"words holding neither old nor new bytes at {bad[:5] * 8}"
    assert got != old, "no write reached the device before the kill"
    for tag, (path, (fsize, _, _, _)) in enumerate(FILES.items(), 1):
        if path != "a/b/deep":
            with open(os.path.join(mp, path), "rb") as fh:
                assert fh.read() == fill(tag, fsize)
