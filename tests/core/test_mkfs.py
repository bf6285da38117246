"""mkfs.famfs: writing, refusing and killing a superblock; log length rules; sizes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid

import pytest

from famfs.errors import FamfsError, UsageError
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import LOG_OFFSET, MiB, min_device_size
from famfs.omf.log import LogHeader
from famfs.omf.superblock import SUPERBLOCK_SIZE, Superblock


def _digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _sb(path: str) -> Superblock:
    with open(path, "rb") as fh:
        return Superblock.decode(fh.read(SUPERBLOCK_SIZE))


def test_mkfs_creates_an_image_and_prints_the_fsck_summary(image_path: str, cli) -> None:
    proc = cli("-s", "64m", image_path, prog="mkfs.famfs")
    assert proc.returncode == 0, proc.stderr
    assert "# of log entries in use: 0 of 15420" in proc.stdout
    assert "Device capacity:        67108864" in proc.stdout
    sb = _sb(image_path)
    assert sb.device_size == 64 * MiB and sb.log_len == 8 * MiB


def test_mkfs_makes_this_host_the_master(image_path: str, host_uuid: str) -> None:
    mkfs(image_path, size=64 * MiB)
    assert _sb(image_path).system_uuid == uuid.UUID(host_uuid)


def test_mkfs_zeroes_the_log_and_writes_an_empty_header(image_path: str) -> None:
    with open(image_path, "wb") as fh:
        fh.write(b"\xff" * (32 * MiB))
    mkfs(image_path, force=True)
    with open(image_path, "rb") as fh:
        fh.seek(LOG_OFFSET)
        log = fh.read(8 * MiB)
    head = LogHeader.decode(log[:48], 8 * MiB)
    assert (head.next_index, head.next_seqnum) == (0, 0)
    assert log[48:] == bytes(len(log) - 48)


def test_mkfs_refuses_an_existing_superblock_without_force(image_path: str, cli) -> None:
    mkfs(image_path, size=64 * MiB)
    before = _digest(image_path)
    proc = cli(image_path, prog="mkfs.famfs")
    assert proc.returncode == 1
    assert "-f" in proc.stderr and image_path in proc.stderr
    assert _digest(image_path) == before


def test_mkfs_force_writes_a_new_filesystem(image_path: str) -> None:
    first = mkfs(image_path, size=64 * MiB)
    second = mkfs(image_path, force=True)
    assert first.fs_uuid != second.fs_uuid


def test_kill_requires_force(image_path: str, cli) -> None:
    mkfs(image_path, size=64 * MiB)
    before = _digest(image_path)
    proc = cli("-k", image_path, prog="mkfs.famfs")
    assert proc.returncode == 2 and "-f" in proc.stderr
    assert _digest(image_path) == before


def test_kill_zeroes_only_the_superblock_magic(image_path: str, cli) -> None:
    mkfs(image_path, size=64 * MiB)
    with open(image_path, "rb") as fh:
        before = fh.read(12 * MiB)
    cli("-k", "-f", image_path, prog="mkfs.famfs", check=True)
    with open(image_path, "rb") as fh:
        after = fh.read(12 * MiB)
    assert after[:8] == bytes(8)
    assert after[8:] == before[8:]
    fsck = cli("fsck", image_path)
    assert fsck.returncode == 1 and "magic" in fsck.stderr


@pytest.mark.parametrize("loglen", ["1", "1m", "11m", "4m", "12m"])
def test_bad_log_lengths_are_refused(image_path: str, cli, loglen: str) -> None:
    proc = cli("-s", "64m", "-l", loglen, image_path, prog="mkfs.famfs")
    assert proc.returncode != 0
    assert "power of two" in proc.stderr


def test_a_256m_log_works(image_path: str, cli) -> None:
    proc = cli("-s", "512m", "-l", "256m", image_path, prog="mkfs.famfs")
    assert proc.returncode == 0, proc.stderr
    assert _sb(image_path).log_len == 256 * MiB
    assert "of 493447" in proc.stdout


def test_the_smallest_image_is_accepted(image_path: str) -> None:
    sb = mkfs(image_path, size=min_device_size())
    assert sb.device_size == min_device_size()


def test_an_image_too_small_for_the_log_is_refused(image_path: str) -> None:
    with pytest.raises(UsageError, match="too small"):
        mkfs(image_path, size=min_device_size() - MiB)


def test_mkfs_of_a_missing_device_without_size_fails(tmp_path, cli) -> None:
    proc = cli(str(tmp_path / "nothing.img"), prog="mkfs.famfs")
    assert proc.returncode == 1 and "no such" in proc.stderr


def test_famfs_mkfs_is_the_same_command(image_path: str, cli) -> None:
    proc = cli("mkfs", "-s", "64m", image_path)
    assert proc.returncode == 0, proc.stderr
    assert _sb(image_path).device_size == 64 * MiB


def test_mkfs_refuses_a_wrong_version_superblock_without_force(image_path: str) -> None:
    mkfs(image_path, size=64 * MiB)
    with open(image_path, "r+b") as fh:
        fh.seek(8)
        fh.write((47).to_bytes(8, "little"))
    with pytest.raises(FamfsError, match="already"):
        mkfs(image_path)


def test_mkfs_refuses_a_file_holding_other_data_without_force(image_path: str, cli) -> None:
    with open(image_path, "wb") as fh:
        fh.truncate(32 * MiB)
        fh.seek(20 * MiB)
        fh.write(b"precious")
    before = _digest(image_path)
    proc = cli(image_path, prog="mkfs.famfs")
    assert proc.returncode == 1
    assert "not a famfs" in proc.stderr and "-f" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _digest(image_path) == before
    assert cli("-f", image_path, prog="mkfs.famfs").returncode == 0


def test_mkfs_takes_a_file_of_zeros_or_holes_without_force(image_path: str) -> None:
    with open(image_path, "wb") as fh:
        fh.write(bytes(4 * MiB))
        fh.truncate(32 * MiB)
    mkfs(image_path)
    assert _sb(image_path).device_size == 32 * MiB


def test_a_new_image_is_readable_by_its_owner_only(image_path: str) -> None:
    mkfs(image_path, size=64 * MiB)
    assert os.stat(image_path).st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_mkfs_that_cannot_fill_its_new_image_removes_it(tmp_path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)], check=True)
    try:
        image = small / "img"
        with pytest.raises(FamfsError, match="No space|no room|space"):
            mkfs(str(image), size=64 * MiB)
        assert not image.exists()
    finally:
        subprocess.run(["umount", str(small)], check=True)
