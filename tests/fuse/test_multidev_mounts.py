"""One famfs across three image devices, end to end: the real CLI, real mounts, famfs.open,
a second host that knows the devices under other paths, a killed server, a missing device."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import famfs
from conftest import Mounter, wait_for
from famfs import pattern
from famfs.access import release_connections
from famfs.fs.filesystem import Filesystem
from famfs.mapping import map_file
from famfs.mapping.protocol import FMAP_XATTR
from famfs.mapping.wire import decode_get_daxdev
from famfs.omf.layout import MiB

pytestmark = pytest.mark.fuse

DEVICE_SIZE = "128m"
STRIPED = 40 * MiB + 12345
SEED = 11


@pytest.fixture
def devices() -> Iterator[list[str]]:
    """Three image paths in /dev/shm (primary first), removed afterwards."""
    base = f"/dev/shm/pyfamfs-md-{uuid.uuid4().hex[:10]}"
    paths = [f"{base}-p.img", f"{base}-s1.img", f"{base}-s2.img"]
    yield paths
    release_connections()
    for p in paths:
        for q in (p, p + ".away"):
            if os.path.exists(q):
                os.unlink(q)


def ok(cli, *args: str, **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    proc = cli(*args, **kw)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}): {proc.stderr}"
    return proc


def make_three(cli, devices: list[str]) -> None:  # type: ignore[no-untyped-def]
    """mkfs.famfs with all three devices, then a file striped over them and a file on device
    0, both filled with the verify pattern."""
    ok(cli, "-s", DEVICE_SIZE, *devices, prog="mkfs")
    ok(cli, "creat", "-s", str(STRIPED), "-r", "-S", str(SEED), "-N", "3",
       f"{devices[0]}:striped")
    ok(cli, "creat", "-s", "3m", "-r", "-S", "12", "--device", "0", f"{devices[0]}:plain")


def device_uuids(primary: str) -> list[str]:
    with Filesystem(primary) as fs:
        return [str(m.uuid) for m in fs.devices]


def digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def daxdev_names(mountpoint: str) -> dict[int, str]:
    out = {}
    for name in os.listxattr(mountpoint):
        if name.startswith("user.famfs.daxdev."):
            index = int(name.rsplit(".", 1)[1])
            out[index] = decode_get_daxdev(os.getxattr(mountpoint, name)).name
    return out


def test_devadd_on_a_live_mount_is_seen_at_once_and_a_striped_file_verifies_everywhere(
        cli, mounter: Mounter, devices: list[str]) -> None:
    primary, s1, s2 = devices
    ok(cli, "-s", DEVICE_SIZE, primary, s1, prog="mkfs")
    mp, _ = mounter.mount(primary)
    assert daxdev_names(mp) == {0: primary, 1: s1}
    with open(s2, "wb") as fh:
        fh.truncate(128 * MiB)
    out = ok(cli, "devadd", mp, s2).stdout
    assert "device 2" in out
    assert daxdev_names(mp) == {0: primary, 1: s1, 2: s2}

    ok(cli, "creat", "-s", str(STRIPED), "-r", "-S", str(SEED), "-N", "3", f"{mp}/striped")
    want = pattern.pattern_bytes(SEED, STRIPED)
    assert os.stat(f"{mp}/striped").st_size == STRIPED
    assert map_file(os.getxattr(f"{mp}/striped", FMAP_XATTR)).devices == {0, 1, 2}
    for name in (f"{mp}/striped", f"{primary}:striped"):
        assert "Success" in ok(cli, "verify", "-S", str(SEED), "-f", name).stdout
    with open(f"{mp}/striped", "rb") as fh:
        assert fh.read() == want
    for name in (f"{mp}/striped", f"{primary}:striped"):
        with famfs.open(name) as f:
            assert bytes(f.view()) == want
            f.seek(2 * MiB - 100)
            assert f.read(200) == want[2 * MiB - 100:2 * MiB + 100]


def test_the_mount_and_famfs_open_write_files_on_several_devices(
        cli, mounter: Mounter, devices: list[str]) -> None:
    make_three(cli, devices)
    primary = devices[0]
    mp, _ = mounter.mount(primary)
    across = 4 * MiB - 8  # the last bytes of chunk 1 (device of strip 1) and chunk 2
    with open(f"{mp}/striped", "r+b", buffering=0) as fh:
        fh.seek(across)
        assert fh.write(b"M" * 16) == 16
        os.fsync(fh.fileno())
    with famfs.open(f"{primary}:striped") as f:
        f.seek(across)
        assert f.read(16) == b"M" * 16
    with famfs.open(f"{primary}:striped", "r+b") as f:
        f.seek(2 * MiB - 4)
        f.write(b"opened!!")
        f.flush()
    with open(f"{mp}/striped", "rb") as fh:
        fh.seek(2 * MiB - 4)
        assert fh.read(8) == b"opened!!"
    m = map_file(os.getxattr(f"{mp}/striped", FMAP_XATTR))
    touched = {x.dev for x in m.spans(2 * MiB - 4, 8)} | {x.dev for x in m.spans(across, 16)}
    assert len(touched) == 3


def test_a_second_host_finds_the_devices_by_uuid_under_other_paths(
        cli, mounter: Mounter, devices: list[str], tmp_path: Path) -> None:
    make_three(cli, devices)
    want = pattern.pattern_bytes(SEED, STRIPED)
    other = Path(f"/dev/shm/pyfamfs-host2-{uuid.uuid4().hex[:8]}")
    other.mkdir()
    try:
        links = [other / name for name in ("mem-a.img", "mem-b.img", "mem-c.img")]
        for src, dst in zip(devices, links, strict=True):
            os.link(src, dst)
        host2 = {"FAMFS_SYSTEM_UUID": str(uuid.uuid4()),
                 "FAMFS_STATE_DIR": str(tmp_path / "host2-state"),
                 "FAMFS_DAXDEV_PATH": str(other)}
        primary2 = str(links[0])
        assert "Success" in ok(cli, "verify", "-S", str(SEED), "-f", f"{primary2}:striped",
                               env=host2).stdout
        listing = ok(cli, "daxdev", "list", primary2, env=host2).stdout
        assert str(links[1]) in listing and str(links[2]) in listing
        assert not any(d in listing for d in devices)
        code = ("import famfs, hashlib, sys\n"
                "with famfs.open(sys.argv[1]) as f:\n"
                "    print(hashlib.sha256(f.view()).hexdigest())\n")
        got = subprocess.run([sys.executable, "-c", code, f"{primary2}:striped"],
                             env=dict(os.environ, **host2), capture_output=True, text=True,
                             check=True).stdout.strip()
        assert got == hashlib.sha256(want).hexdigest()
        mp, _ = mounter.mount(primary2, env=host2)
        assert daxdev_names(mp) == {0: primary2, 1: str(links[1]), 2: str(links[2])}
        with open(f"{mp}/striped", "rb") as fh:
            assert fh.read() == want
    finally:
        for p in other.iterdir():
            p.unlink()
        other.rmdir()


def test_killing_the_server_and_mounting_again_loses_nothing(
        cli, mounter: Mounter, devices: list[str]) -> None:
    primary, s1, s2 = devices
    ok(cli, "-s", DEVICE_SIZE, primary, s1, prog="mkfs")
    mp, _ = mounter.mount(primary)
    with open(s2, "wb") as fh:
        fh.truncate(128 * MiB)
    ok(cli, "devadd", mp, s2)
    ok(cli, "creat", "-s", str(STRIPED), "-r", "-S", str(SEED), "-N", "3", f"{mp}/striped")
    pid = mounter.server_pid(mp)
    os.kill(pid, 9)
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}/cmdline") or
                    open(f"/proc/{pid}/stat").read().split(") ")[-1][:1] in "ZX", 5.0)
    ok(cli, "umount", mp)
    mp2, _ = mounter.mount(primary)
    assert daxdev_names(mp2) == {0: primary, 1: s1, 2: s2}
    with open(f"{mp2}/striped", "rb") as fh:
        assert fh.read() == pattern.pattern_bytes(SEED, STRIPED)
    assert "Success" in ok(cli, "verify", "-S", str(SEED), "-f", f"{mp2}/striped").stdout
    assert "Devices: 3" in ok(cli, "fsck", mp2).stdout


def test_a_missing_secondary_is_a_clear_error_naming_it_and_nothing_is_written(
        cli, mounter: Mounter, devices: list[str], tmp_path: Path) -> None:
    make_three(cli, devices)
    primary, _, s2 = devices
    uuids = device_uuids(primary)
    before = [digest(p) for p in devices]
    source = tmp_path / "local"
    source.write_bytes(b"x" * 5000)
    os.rename(s2, s2 + ".away")
    try:
        for args in (("verify", "-S", str(SEED), "-f", f"{primary}:striped"),
                     ("creat", "-s", "4m", f"{primary}:new"),
                     ("cp", str(source), f"{primary}:copied")):
            proc = cli(*args)
            assert proc.returncode != 0, args
            assert f"device 2 (UUID {uuids[2]})" in proc.stderr, proc.stderr
            assert "Traceback" not in proc.stderr
        mp, proc = mounter.mount(primary, check=False)
        assert proc.returncode != 0 and f"device 2 (UUID {uuids[2]})" in proc.stderr
        assert not os.path.ismount(mp)
        # A file on the devices that are here still reads.
        assert "Success" in ok(cli, "verify", "-S", "12", "-f", f"{primary}:plain").stdout
        assert "not found on this host" in cli("daxdev", "list", primary).stdout
    finally:
        os.rename(s2 + ".away", s2)
    assert [digest(p) for p in devices] == before


def test_fsck_prints_per_device_figures_and_a_secondary_names_its_primary(
        cli, devices: list[str]) -> None:
    make_three(cli, devices)
    out = ok(cli, "fsck", devices[0]).stdout
    assert "Devices: 3" in out
    for index, path in enumerate(devices):
        assert f"  {index}: {path}" in out
    assert f"         1: {devices[1]}   134217728" in out
    assert out.count("    Device capacity:        134217728") == 3
    assert out.count("    Allocation collisions:  0") == 3
    second = ok(cli, "fsck", devices[1]).stdout
    assert second.splitlines()[0].startswith(f"{devices[1]} is device 1")
    assert f"checking its primary {devices[0]}" in second.splitlines()[0]
    single = devices[0] + ".single"
    try:
        ok(cli, "-s", "64m", single, prog="mkfs")
        assert "Devices:" not in ok(cli, "fsck", single).stdout
    finally:
        os.unlink(single)
