"""Bad arguments get a one-line error and a non-zero exit, never a traceback, and change
nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from famfs.fs.mkfs import mkfs

MiB = 1 << 20


@pytest.fixture
def image(image_path: str) -> str:
    mkfs(image_path, size=64 * MiB)
    return image_path


def assert_clean_failure(proc, *words: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr


@pytest.mark.parametrize("args", [
    ("creat", "-s", "4k", "-u", "-1"),
    ("creat", "-s", "4k", "-g", "99999999999"),
    ("mkdir", "-u", "4294967296"),
    ("cp", "-g", "-5"),
])
def test_an_id_outside_32_bits_is_refused(cli, image: str, tmp_path: Path, args) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"x")
    extra = [str(src)] if args[0] == "cp" else []
    proc = cli(*args, *extra, f"{image}:target")
    assert_clean_failure(proc, "is not between 0 and 4294967295")


def test_a_size_larger_than_the_device_is_no_space(cli, image: str) -> None:
    before = Path(image).read_bytes()[:16 * MiB]
    proc = cli("creat", "-s", "9223372036854775807", f"{image}:huge")
    assert_clean_failure(proc, "no ")
    assert Path(image).read_bytes()[:16 * MiB] == before


def test_a_size_past_63_bits_is_refused(cli, image: str) -> None:
    proc = cli("creat", "-s", "100000000000000000000000", f"{image}:huge")
    assert_clean_failure(proc, "invalid size")


def test_an_interleaved_strip_larger_than_a_bucket_is_no_space(cli, image: str) -> None:
    proc = cli("creat", "-s", "60m", "-N", "2", "-B", "2", "-C", "2m", f"{image}:wide")
    assert_clean_failure(proc)


def test_mkfs_of_a_huge_image_is_refused_and_leaves_no_file(cli, tmp_path: Path) -> None:
    path = tmp_path / "huge.img"
    proc = cli("-s", "100000000000000000000000", str(path), prog="mkfs.famfs")
    assert_clean_failure(proc, "invalid size")
    assert not path.exists()


def test_mkfs_of_a_too_small_image_leaves_no_file(cli, tmp_path: Path) -> None:
    path = tmp_path / "small.img"
    proc = cli("-s", "1m", str(path), prog="mkfs.famfs")
    assert_clean_failure(proc, "too small")
    assert not path.exists()


def test_mkfs_with_size_on_a_famfs_without_force_leaves_it_as_it_was(cli, image: str) -> None:
    proc = cli("-s", "128m", image, prog="mkfs.famfs")
    assert_clean_failure(proc, "holds a famfs filesystem already")
    assert os.path.getsize(image) == 64 * MiB


def test_mkfs_of_a_directory_says_it_is_a_directory(cli, tmp_path: Path) -> None:
    proc = cli(str(tmp_path), prog="mkfs.famfs")
    assert_clean_failure(proc, "is a directory")


def test_a_bad_superblock_error_names_the_device(cli, tmp_path: Path) -> None:
    path = tmp_path / "blank.img"
    path.write_bytes(bytes(16 * MiB))
    proc = cli("fsck", str(path))
    assert_clean_failure(proc, f"{path}: not a famfs image", "superblock: field magic")


@pytest.mark.parametrize("command", ["creat", "cp", "verify"])
@pytest.mark.parametrize("count", ["-1", "257"])
def test_a_thread_count_outside_0_to_256_is_refused(cli, image: str, command: str,
                                                    count: str) -> None:
    proc = cli(command, "-t", count, f"{image}:x")
    assert_clean_failure(proc, "is not between 0 and 256")
    assert proc.returncode == 2


@pytest.mark.parametrize("args", [("creat", "--bogus", "x"), ("fsck", "x", "extra1", "extra2")])
def test_words_a_command_does_not_take_are_named_by_the_famfs_parser(cli, args) -> None:
    proc = cli(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    unknown = " ".join(a for a in args[1:] if a not in ("x",))
    assert proc.stderr.splitlines()[-1] == f"famfs: error: unrecognized arguments: {unknown}"


def test_creat_with_many_files_reads_options_before_and_after_them(image: str, cli) -> None:
    multis = [w for i in range(20) for w in ("-M", f"{image}:f{i},4k")]
    proc = cli("creat", "-m", "0600", *multis, "-u", "7")
    assert proc.returncode == 0, proc.stderr
    from famfs.fs.filesystem import Filesystem

    with Filesystem(image) as fs:
        node = fs.namespace.lookup("f19")
        assert (node.mode, node.uid, fs.namespace.files) == (0o600, 7, 20)
