"""Fixtures for tests that mount real famfs FUSE filesystems.

`mounter` mounts with the real CLI (`famfs mount`, in a subprocess) and ALWAYS cleans up in
teardown, even when the test failed: each mount point it was given is unmounted (umount2 with
MNT_DETACH if a plain unmount is refused) and each server process it started is killed by PID.
Without /dev/fuse or root the mount tests are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fs.mounts import famfs_mounts
from famfs.mapping.files import write_file
from famfs.omf.layout import MiB

MNT_DETACH = 2
IMAGE_SIZE = 128 * MiB
_libc = ctypes.CDLL(None, use_errno=True)


def fuse_usable() -> str | None:
    """Why real mounts cannot run here, or None if they can."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    if os.geteuid() != 0:
        return "mounting needs root"
    return None


@pytest.fixture
def need_fuse() -> None:
    """Skip (fail under CI=true) when real mounts are impossible."""
    why = fuse_usable()
    if why is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"FUSE tests cannot run: {why}")
    pytest.skip(why)


def is_mounted(mountpoint: str) -> bool:
    real = os.path.realpath(mountpoint)
    return any(target == real for _, target in famfs_mounts())


def server_pids(mountpoint: str) -> list[int]:
    """PIDs of `famfs mount` processes serving `mountpoint` (by their command line)."""
    real = os.path.realpath(mountpoint)
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            continue
        words = [os.fsdecode(a) for a in args]
        if "mount" in words and (mountpoint in words or real in words):
            out.append(int(entry))
    return out


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def force_unmount(mountpoint: str) -> None:
    """Unmount `mountpoint` (lazily if it is busy) and kill what served it."""
    pids = server_pids(mountpoint)
    if is_mounted(mountpoint):
        path = os.fsencode(os.path.realpath(mountpoint))
        if _libc.umount2(path, 0) != 0:
            _libc.umount2(path, MNT_DETACH)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    if pids and not wait_for(lambda: not any(_alive(p) for p in pids), 3.0):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] not in ("Z", "X")
    except OSError:
        return False


@dataclass
class Mounter:
    """Mounts made by one test; `cleanup()` undoes every one of them."""

    base: Path
    run_cli: Callable[..., subprocess.CompletedProcess[str]]
    mountpoints: list[str] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    public_dirs: list[str] = field(default_factory=list)

    def public_dir(self) -> str:
        """A new directory under /tmp that every user may enter (for mount points that other
        users must reach); removed by `cleanup`, once the mounts in it are gone."""
        path = tempfile.mkdtemp(prefix="famfs-public-", dir="/tmp")
        os.chmod(path, 0o755)
        self.public_dirs.append(path)
        return path

    def mountpoint(self, name: str = "mnt") -> str:
        path = self.base / f"{name}-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        self.mountpoints.append(str(path))
        return str(path)

    def mount(self, device: str, *options: str, mountpoint: str | None = None,
              env: dict[str, str] | None = None, check: bool = True
              ) -> tuple[str, subprocess.CompletedProcess[str]]:
        """`famfs mount [options] DEVICE MOUNTPOINT`; returns (mount point, process)."""
        mp = mountpoint or self.mountpoint()
        if mp not in self.mountpoints:
            self.mountpoints.append(mp)
        proc = self.run_cli("mount", *options, device, mp, env=env)
        self.pids.update(server_pids(mp))
        if check and proc.returncode != 0:
            raise AssertionError(f"famfs mount failed ({proc.returncode}): {proc.stderr}")
        return mp, proc

    def foreground(self, device: str, *options: str, env: dict[str, str] | None = None
                   ) -> tuple[str, subprocess.Popen[bytes]]:
        """`famfs mount -f ...` as a child process; returns once the mount is live."""
        mp = self.mountpoint("fg")
        full_env = dict(os.environ, **(env or {}))
        proc = subprocess.Popen([sys.executable, "-m", "famfs", "mount", "--foreground", *options,
                                 device, mp], env=full_env, stderr=subprocess.PIPE)
        self.procs.append(proc)
        self.pids.add(proc.pid)
        if not wait_for(lambda: is_mounted(mp) or proc.poll() is not None, 10.0):
            raise AssertionError("foreground mount did not come up")
        return mp, proc

    def server_pid(self, mountpoint: str) -> int:
        pids = server_pids(mountpoint)
        assert len(pids) == 1, f"expected one server for {mountpoint}, found {pids}"
        return pids[0]

    def cleanup(self) -> None:
        for mp in reversed(self.mountpoints):
            self.pids.update(server_pids(mp))
            force_unmount(mp)
        for pid in self.pids:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        for path in self.public_dirs:
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def public_dir(mounter: Mounter) -> str:
    """A directory under /tmp that every user may enter, removed after the mounts in it."""
    return mounter.public_dir()


@pytest.fixture
def mounter(need_fuse: None, tmp_path: Path, cli: Callable[..., subprocess.CompletedProcess[str]]
            ) -> Iterator[Mounter]:
    """Mount with the real CLI; every mount is undone in teardown, pass or fail."""
    m = Mounter(tmp_path, cli)
    try:
        yield m
    finally:
        m.cleanup()


@pytest.fixture
def famfs_image(image_path: str) -> str:
    """A 128 MiB famfs image in /dev/shm, made by this test's host (the master)."""
    mkfs(image_path, size=IMAGE_SIZE)
    return image_path


def fill(tag: int, size: int) -> bytes:
    """`size` bytes that differ per `tag` and per 8-byte word."""
    words = (size + 7) // 8
    return b"".join(((tag << 40) | i).to_bytes(8, "little") for i in range(words))[:size]


def populate(image: str, files: dict[str, tuple[int, int, int, int]],
             dirs: dict[str, tuple[int, int, int]] | None = None) -> None:
    """Log `dirs` (path: (mode, uid, gid)) then `files` (path: (size, mode, uid, gid)), each file
    filled with `fill(index, size)`."""
    with Filesystem(image, writable=True) as fs:
        for path, (mode, uid, gid) in (dirs or {}).items():
            fs.mkdir(path, parents=True, mode=mode, uid=uid, gid=gid)
        for tag, (path, (size, mode, uid, gid)) in enumerate(files.items(), 1):
            node = fs.create_file(path, size, mode=mode, uid=uid, gid=gid)
            write_file(fs, node, 0, fill(tag, size))
            fs.flush_file(node)
