"""The xattr transport against a real famfs FUSE mount: maps and devices come from the mount's
`user.famfs.*` attributes, and famfs.open on a path in the mount reads zero-copy."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import subprocess
import sys
import time

import pytest
from mapping_helpers import INTERLEAVE

import famfs
from famfs.access import connection_for, release_connections
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fs.mounts import famfs_mounts
from famfs.mapping import MappingError
from famfs.mapping.files import write_file
from famfs.mapping.server import MapServer
from famfs.mapping.transport import XattrTransport
from famfs.mapping.wire import decode_get_daxdev
from famfs.omf.layout import MiB

MNT_DETACH = 2


def _why_not() -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    if os.geteuid() != 0:
        return "mounting needs root"
    if importlib.util.find_spec("famfs.fuse.mount") is None:
        return "the FUSE server (famfs.fuse.mount) is not part of this tree"
    return None


def _mounted(mp: str) -> bool:
    return any(target == os.path.realpath(mp) for _, target in famfs_mounts())


def _server_pids(mp: str) -> list[int]:
    real = os.path.realpath(mp)
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    words = [os.fsdecode(w) for w in fh.read().split(b"\0")]
            except OSError:
                continue
            if "mount" in words and (mp in words or real in words):
                pids.append(int(entry))
    return pids


@pytest.fixture
def mount(image_path, tmp_path):
    """A famfs with two files, mounted with `famfs mount`; always unmounted afterwards."""
    why = _why_not()
    if why is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot mount: {why}")
        pytest.skip(why)
    mkfs(image_path, size=128 * MiB)
    data = {"plain": os.urandom(3 * MiB + 5), "dir/striped": os.urandom(9 * MiB)}
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("dir")
        for name, blob in data.items():
            node = fs.create_file(name, len(blob),
                                  interleave=INTERLEAVE if "striped" in name else None)
            write_file(fs, node, 0, blob)
            fs.flush_file(node)
    mp = str(tmp_path / "mnt")
    os.mkdir(mp)
    pids: list[int] = []
    try:
        proc = subprocess.run([sys.executable, "-m", "famfs", "mount", image_path, mp],
                              capture_output=True, text=True, timeout=60)
        pids = _server_pids(mp)
        assert proc.returncode == 0, proc.stderr
        deadline = time.monotonic() + 10
        while not _mounted(mp) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _mounted(mp)
        yield mp, image_path, data
    finally:
        release_connections()
        pids = sorted(set(pids) | set(_server_pids(mp)))
        if _mounted(mp):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.umount2(os.fsencode(mp), 0) != 0:
                libc.umount2(os.fsencode(mp), MNT_DETACH)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def test_mount_serves_the_same_map_as_the_log(mount):
    mp, image, _ = mount
    with Filesystem(image) as fs:
        server = MapServer(fs)
        for name in ("plain", "dir/striped"):
            assert XattrTransport(mp).get_fmap(name) == server.get_fmap(name)


def test_mount_names_device_zero_by_its_path(mount):
    mp, image, _ = mount
    reply = decode_get_daxdev(XattrTransport(mp).get_daxdev(0))
    assert os.path.realpath(reply.name) == os.path.realpath(image)


@pytest.mark.parametrize("name", ["plain", "dir/striped"])
def test_open_in_a_mount_reads_and_views_the_file(mount, name):
    mp, _, data = mount
    with famfs.open(os.path.join(mp, name)) as f:
        assert f.read() == data[name]
        view = f.view()
        assert bytes(view) == data[name]
        view.release()
    trips = connection_for(mp).round_trips
    assert (trips.fmap, trips.daxdev) == (1, 1)


def test_a_directory_has_no_map(mount):
    mp, _, _ = mount
    with pytest.raises(MappingError):
        XattrTransport(mp).get_fmap("dir")


def test_logplay_through_the_mount_shows_a_new_file(mount):
    mp, image, _ = mount
    with Filesystem(image, writable=True) as fs:
        fs.create_file("late", MiB)
    XattrTransport(mp).logplay()
    with famfs.open(os.path.join(mp, "late")) as f:
        assert f.size == MiB
