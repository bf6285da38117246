"""famfs fsck: what it reports, and when it fails."""

from __future__ import annotations

import uuid

import pytest
from set_a import MASTER_UUID, expected, make_set_a_image

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


def test_fsck_cli_prints_entries_capacity_and_passes(fs_image: str, cli) -> None:
    proc = cli("fsck", fs_image)
    assert proc.returncode == 0, proc.stderr
    for text in ("  # of log entries in use: 4 of 15420", "  Device capacity:        268435456",
                 "  No allocation errors found", "  3 files", "  1 directories"):
        assert text + "\n" in proc.stdout


@pytest.mark.parametrize("args, vector", [
    ((), "fsck.txt"),
    (("-h",), "fsck-human.txt"),
    (("--human",), "fsck-human.txt"),
    (("--nbuckets", "8"), "fsck-nbuckets8.txt"),
    (("-B", "8"), "fsck-nbuckets8.txt"),
])
def test_fsck_output_is_the_references_line_for_line(image_path: str, cli, args, vector) -> None:
    make_set_a_image(image_path)
    proc = cli("fsck", *args, image_path, env={"FAMFS_SYSTEM_UUID": MASTER_UUID})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected(vector)


def test_the_role_line_says_client_on_another_host(image_path: str, cli) -> None:
    make_set_a_image(image_path)
    proc = cli("fsck", image_path, env={"FAMFS_SYSTEM_UUID": str(uuid.uuid4())})
    assert proc.returncode == 0, proc.stderr
    want = expected("fsck.txt").replace("role of this node: Owner", "role of this node: Client")
    assert proc.stdout == want


def test_verbose_adds_the_log_geometry_scripts_read(fs_image: str, cli) -> None:
    proc = cli("fsck", "-v", fs_image)
    assert proc.returncode == 0, proc.stderr
    log_len = [line.split()[1] for line in proc.stdout.splitlines() if "log_len" in line]
    assert log_len == ["8388608"]
    assert "  last_log_index:    15419\n" in proc.stdout


def test_verbose_lists_every_entry(fs_image: str, cli) -> None:
    proc = cli("fsck", "-vv", fs_image)
    assert proc.returncode == 0, proc.stderr
    for name in ("dir  dir", "file a ", "file dir/b ", "file striped "):
        assert name in proc.stdout


def test_verbose_escapes_control_characters_in_names(image_path: str, cli) -> None:
    mkfs(image_path, size=64 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.create_file("evil\x1b[2Jname\ttab", 1)
        fs.mkdir("bidi\u202edir")
    proc = cli("fsck", "-v", image_path)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\u202e" not in proc.stdout
    assert "evil\\x1b[2Jname\\ttab" in proc.stdout
    assert "bidi\\u202edir" in proc.stdout


@pytest.mark.parametrize("flag", ["-m", "--mmap", "-r", "--read", "--fuse", "-D"])
def test_reference_access_flags_are_accepted(fs_image: str, cli, flag: str) -> None:
    proc = cli("fsck", flag, fs_image)
    assert proc.returncode == 0, proc.stderr
    assert "Famfs Superblock:" in proc.stdout


def test_mmap_and_read_together_fail_as_the_reference(fs_image: str, cli) -> None:
    proc = cli("fsck", "-rm", fs_image)
    assert proc.returncode == 1
    assert "mutually exclusive" in proc.stderr and "Traceback" not in proc.stderr


def test_nofuse_is_refused_with_the_reason(fs_image: str, cli) -> None:
    proc = cli("fsck", "--nofuse", fs_image)
    assert proc.returncode == 2 and "FUSE only" in proc.stderr


def test_question_mark_is_help_and_h_is_not(fs_image: str, cli) -> None:
    proc = cli("fsck", "-?")
    assert proc.returncode == 0 and "--human" in proc.stdout


def test_a_filesystem_problem_is_printed_and_fails_the_check(fs_image: str) -> None:
    report = fsck(fs_image)
    report.problems.append("device is 1048576 bytes shorter than its superblock says")
    assert not report.ok
    text = report.render()
    assert "Problems:\n  device is 1048576 bytes shorter than its superblock says\n" in text


def test_a_cross_link_fails_and_names_the_entry(fs_image: str, cli) -> None:
    with Filesystem(fs_image, writable=True) as fs:
        fs.clone("a", "a-clone")
    report = fsck(fs_image)
    assert not report.ok and report.collisions
    assert {c.entry_index for c in report.collisions} == {4}
    proc = cli("fsck", fs_image)
    assert proc.returncode == 1
    assert "ERROR: 2 ALLOCATION COLLISIONS FOUND" in proc.stdout
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
    proc = cli("fsck")
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_fsck_does_not_write(fs_image: str, cli) -> None:
    with open(fs_image, "rb") as fh:
        before = fh.read(16 * MiB)
    cli("fsck", "-v", fs_image, check=True)
    with open(fs_image, "rb") as fh:
        assert fh.read(16 * MiB) == before
