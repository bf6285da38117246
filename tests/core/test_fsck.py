"""famfs fsck: what it reports, and when it fails."""

from __future__ import annotations

import pytest

from famfs.alloc import InterleaveParams
from famfs.errors import CorruptError, NoSuperblockError, WrongVersionError
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.fsck import fsck
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import LOG_OFFSET, MiB


@pytest.fixture
def fs_image(image_path: str) -> str:
    """A 256 MiB famfs with a directory, two simple files and one interleaved file."""
    mkfs(image_path, size=256 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("dir")
        fs.create_files([NewFile("a", 3 * MiB), NewFile("dir/b", 1)])
        fs.create_file("striped", 8 * MiB, interleave=InterleaveParams(4, 4, 2 * MiB))
    return image_path


def test_clean_filesystem_reports_counts_and_space(fs_image: str) -> None:
    report = fsck(fs_image)
    assert report.ok
    assert (report.files, report.directories) == (3, 1)
    assert report.slots_used == 4 and report.slots_free == 15420 - 4
    assert report.file_bytes == 3 * MiB + 1 + 8 * MiB
    assert report.allocated == (5 + 2 + 1 + 4) * 2 * MiB
    assert report.capacity == 256 * MiB


def test_fsck_cli_prints_slots_capacity_and_passes(fs_image: str, cli) -> None:
    proc = cli("fsck", fs_image)
    assert proc.returncode == 0, proc.stderr
    for text in ("log slots used:    4 of 15420", "log slots free:    15416",
                 "device capacity:   268435456", "no allocation collisions",
                 "no namespace conflicts"):
        assert text in proc.stdout


def test_dash_h_is_human_readable_not_help(fs_image: str, cli) -> None:
    proc = cli("fsck", "-h", fs_image)
    assert proc.returncode == 0, proc.stderr
    assert "device capacity:   256.00M" in proc.stdout


def test_verbose_lists_every_entry(fs_image: str, cli) -> None:
    proc = cli("fsck", "-v", fs_image)
    assert proc.returncode == 0, proc.stderr
    for name in ("dir dir", "file a ", "file dir/b ", "file striped "):
        assert name.replace("dir dir", "dir  dir") in proc.stdout


def test_a_cross_link_fails_and_names_the_entry(fs_image: str, cli) -> None:
    with Filesystem(fs_image, writable=True) as fs:
        fs.clone("a", "a-clone")
    report = fsck(fs_image)
    assert not report.ok and report.collisions
    assert {c.entry_index for c in report.collisions} == {4}
    proc = cli("fsck", fs_image)
    assert proc.returncode == 1
    assert "allocation collisions (cross-links): 1" in proc.stdout
    assert "log entry 4" in proc.stderr


def test_a_corrupt_entry_fails_naming_it(fs_image: str, cli) -> None:
    with open(fs_image, "r+b") as fh:
        fh.seek(LOG_OFFSET + 48 + 544 + 100)
        fh.write(b"\x55")
    with pytest.raises(CorruptError, match="log entry 1: field crc"):
        fsck(fs_image)
    proc = cli("fsck", fs_image)
    assert proc.returncode == 1
    assert "log entry 1: field crc" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_superblock_fails(image_path: str, cli) -> None:
    with open(image_path, "wb") as fh:
        fh.truncate(64 * MiB)
    with pytest.raises(NoSuperblockError):
        fsck(image_path)
    proc = cli("fsck", image_path)
    assert proc.returncode == 1 and "superblock: field magic" in proc.stderr


def test_wrong_version_is_its_own_error(fs_image: str) -> None:
    import struct
    import zlib

    with open(fs_image, "r+b") as fh:
        raw = bytearray(fh.read(96))
        raw[8:16] = struct.pack("<Q", 47)
        fh.seek(0)
        fh.write(raw + struct.pack("<Q", zlib.crc32(raw)))
    with pytest.raises(WrongVersionError, match="version 47"):
        fsck(fs_image)


def test_a_path_that_is_not_famfs_fails(tmp_path, cli) -> None:
    proc = cli("fsck", str(tmp_path))
    assert proc.returncode == 1 and "not a famfs" in proc.stderr
    proc = cli("fsck", str(tmp_path / "missing"))
    assert proc.returncode == 1 and "no such" in proc.stderr


def test_fsck_does_not_write(fs_image: str, cli) -> None:
    with open(fs_image, "rb") as fh:
        before = fh.read(16 * MiB)
    cli("fsck", "-v", fs_image, check=True)
    with open(fs_image, "rb") as fh:
        assert fh.read(16 * MiB) == before
