"""The server never dies from a fault in the data path.

An image file can lose its backing under a live mount: a sparse image on a filesystem that fills
up, or an image truncated by someone else. Touching such memory from Python would be SIGBUS and
kill the server for everyone. Writes go to the image with pwrite(2) (ENOSPC, EIO), reads are
copied by the kernel from the mapping (an error return, answered EIO), and the log is not read
from a shrunk image. Each test then checks that the same server still serves the other files.
"""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import fill, is_mounted, populate
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.mapping.files import mapped_of
from famfs.mapping.protocol import LOGPLAY_XATTR
from famfs.omf.layout import MiB

MNT_DETACH = 2
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


@pytest.fixture
def small_tmpfs(need_fuse: None, tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs of its own, unmounted in teardown (after the test's mounts)."""
    where = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs", str(where)],
                   check=True, capture_output=True)
    try:
        yield where
    finally:
        if _libc.umount2(os.fsencode(str(where)), 0) != 0:
            _libc.umount2(os.fsencode(str(where)), MNT_DETACH)


def extent_of(image: str, relpath: str) -> tuple[int, int]:
    """(device offset, length) of the single extent of `relpath`."""
    with Filesystem(image) as fs:
        (run,) = list(mapped_of(fs.file(relpath)).spans())
        return run.addr, run.length


def punch_hole(path: str, offset: int, length: int) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        if _libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length):
            raise OSError(ctypes.get_errno(), "fallocate(PUNCH_HOLE)")
    finally:
        os.close(fd)


def fill_up(directory: Path) -> None:
    """Write a file in `directory` until its filesystem has no space left."""
    block = b"\xa5" * MiB
    with open(directory / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    assert os.statvfs(directory).f_bavail == 0


def dd_write(path: str, count_4k: int = 1, seek_4k: int = 0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dd", "if=/dev/urandom", f"of={path}", "bs=4096",
                           f"count={count_4k}", f"seek={seek_4k}", "conv=notrunc"],
                          capture_output=True, text=True)


def assert_still_serving(mounter, mp: str, path: str, expected: bytes) -> None:
    """The mount's server is alive and answers: a stat, a listing, and a read of `path`."""
    assert is_mounted(mp)
    pid = mounter.server_pid(mp)
    os.kill(pid, 0)
    os.statvfs(mp)
    assert os.path.basename(path) in os.listdir(os.path.dirname(path))
    with open(path, "rb") as fh:
        assert fh.read() == expected


def test_write_into_a_sparse_image_on_a_full_filesystem_is_enospc_and_serving_goes_on(
        small_tmpfs, mounter):
    image = str(small_tmpfs / "famfs.img")
    mkfs(image, size=48 * MiB)
    populate(image, {"kept": (MiB, 0o644, 0, 0), "unbacked": (8 * MiB, 0o666, 0, 0)})
    mp, _ = mounter.mount(image)
    offset, length = extent_of(image, "unbacked")
    punch_hole(image, offset, length)
    fill_up(small_tmpfs)
    target = os.path.join(mp, "unbacked")

    proc = dd_write(target, count_4k=16)
    assert proc.returncode != 0
    assert "No space left on device" in proc.stderr
    fd = os.open(target, os.O_WRONLY)
    try:
        with pytest.raises(OSError) as exc:
            os.pwrite(fd, b"x" * 4096, 4 * MiB)
        assert exc.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    # Reading the unbacked range is answered (zeros or EIO), never a dead server.
    try:
        with open(target, "rb") as fh:
            fh.read(MiB)
    except OSError as exc:
        assert exc.errno == errno.EIO
    assert_still_serving(mounter, mp, os.path.join(mp, "kept"), fill(1, MiB))


def test_image_truncated_under_the_mount_answers_eio_and_serving_goes_on(image_path,
                                                                         mounter):
    mkfs(image_path, size=64 * MiB)
    populate(image_path, {"first": (MiB, 0o644, 0, 0), "last": (8 * MiB, 0o666, 0, 0)})
    first_end = sum(extent_of(image_path, "first"))
    last_offset, _ = extent_of(image_path, "last")
    assert first_end <= last_offset
    mp, _ = mounter.mount(image_path)
    last = os.path.join(mp, "last")
    with open(last, "rb") as fh:
        assert fh.read(4096) == fill(2, 4096)

    os.truncate(image_path, last_offset + MiB)  # cuts "last" after its first MiB
    with open(last, "rb") as fh:
        with pytest.raises(OSError) as exc:
            fh.read()
        assert exc.value.errno == errno.EIO
    proc = dd_write(last, seek_4k=(2 * MiB) // 4096)
    assert proc.returncode != 0 and "Input/output error" in proc.stderr
    assert os.path.getsize(image_path) == last_offset + MiB  # the write did not regrow it
    assert_still_serving(mounter, mp, os.path.join(mp, "first"), fill(1, MiB))


def test_image_truncated_below_its_log_keeps_the_namespace_served(image_path, mounter):
    mkfs(image_path, size=64 * MiB)
    populate(image_path, {"first": (MiB, 0o644, 0, 0)})
    mp, _ = mounter.mount(image_path)
    os.truncate(image_path, MiB)  # superblock, log and data all gone
    first = os.path.join(mp, "first")
    assert os.stat(first).st_size == MiB  # names and sizes come from memory
    assert "first" in os.listdir(mp)
    with open(first, "rb") as fh:
        with pytest.raises(OSError) as exc:
            fh.read()
        assert exc.value.errno == errno.EIO
    with pytest.raises(OSError) as exc:
        os.getxattr(mp, LOGPLAY_XATTR)
    assert exc.value.errno == errno.EIO
    with open(os.path.join(mp, ".meta/.log"), "rb") as fh:
        with pytest.raises(OSError) as exc:
            fh.read()
        assert exc.value.errno == errno.EIO
    assert is_mounted(mp)
    os.kill(mounter.server_pid(mp), 0)
    os.statvfs(mp)
