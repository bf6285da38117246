"""creat, cp, verify, getmap and flush behave as the reference's do, and their messages say
what to do next."""

from __future__ import annotations

from pathlib import Path

import pytest

from famfs import pattern
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.mapping.files import read_file
from famfs.omf.layout import MiB


@pytest.fixture
def image(image_path: str) -> str:
    mkfs(image_path, size=64 * MiB)
    return image_path


def famfs_bytes(image: str, relpath: str) -> bytes:
    with Filesystem(image) as fs:
        node = fs.file(relpath)
        return read_file(fs, node, 0, node.size)


def names(image: str) -> set[str]:
    with Filesystem(image) as fs:
        return {n.relpath for n in fs.namespace.walk()}


# --- creat --------------------------------------------------------------------------------

def test_multi_create_makes_the_good_file_then_fails(cli, image: str, tmp_path: Path) -> None:
    proc = cli("creat", "-v", "--multi", f"{image}:goodfile,4k",
               "--multi", f"{tmp_path}/badfile,4M")
    assert proc.returncode != 0
    assert "badfile" in proc.stderr and "Traceback" not in proc.stderr
    assert names(image) == {"goodfile"}
    assert "Create complete for 1 of 2 files with 1 errs" in proc.stdout


def test_randomize_without_a_seed_is_accepted_and_writes_no_pattern(cli, image: str) -> None:
    proc = cli("creat", "-r", "-s", "8k", f"{image}:plain")
    assert proc.returncode == 0, proc.stderr
    assert famfs_bytes(image, "plain") == bytes(8192)


def test_seed_zero_means_do_not_randomize(cli, image: str) -> None:
    assert cli("creat", "-r", "-S", "0", "-s", "8k", f"{image}:z").returncode == 0
    assert famfs_bytes(image, "z") == bytes(8192)
    assert cli("creat", "-M", f"{image}:m,4k,0").returncode == 0
    assert famfs_bytes(image, "m") == bytes(4096)


def test_a_nonzero_seed_without_randomize_is_refused(cli, image: str) -> None:
    proc = cli("creat", "-S", "3", "-s", "4k", f"{image}:f")
    assert proc.returncode == 2 and "-r" in proc.stderr
    assert names(image) == set()


def test_multi_size_zero_randomizes_an_existing_file(cli, image: str) -> None:
    cli("creat", "-s", "1m", f"{image}:f", check=True)
    proc = cli("creat", "-t0", "-v", "-M", f"{image}:f,0,42")
    assert proc.returncode == 0, proc.stderr
    assert cli("verify", "-S", "42", "-f", f"{image}:f").returncode == 0


def test_multi_size_zero_for_a_new_file_is_an_error(cli, image: str) -> None:
    proc = cli("creat", "-M", f"{image}:new,0,42")
    assert proc.returncode != 0 and "existing file" in proc.stderr
    assert names(image) == set()


def test_randomize_an_existing_file_without_a_size(cli, image: str) -> None:
    cli("creat", "-s", "64k", f"{image}:f", check=True)
    assert cli("creat", "-S", "7", "-r", f"{image}:f").returncode == 0
    assert famfs_bytes(image, "f") == pattern.pattern_bytes(7, 65536)


@pytest.mark.parametrize("command", ["creat", "verify"])
@pytest.mark.parametrize("count, ok", [("0", True), ("1", True), ("256", True), ("257", False),
                                       ("-1", False), ("1000", False)])
def test_thread_counts_from_0_to_256_are_accepted(cli, image: str, command: str, count: str,
                                                  ok: bool) -> None:
    cli("creat", "-M", f"{image}:f,4k,5", check=True)
    args = ["-M", f"{image}:f,4k,5"] if command == "creat" else ["-m", f"{image}:f,5"]
    proc = cli(command, "-t", count, *args)
    if ok:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 2 and "between 0 and 256" in proc.stderr


# --- cp -----------------------------------------------------------------------------------

def test_cp_compare_reports_a_mismatch_and_never_rewrites(cli, image: str,
                                                          tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"A" * 10000)
    cli("cp", str(src), f"{image}:f", check=True)
    src.write_bytes(b"A" * 5000 + b"B" * 5000)
    proc = cli("cp", "-c", str(src), f"{image}:f")
    assert proc.returncode != 0 and "offset 5000" in proc.stderr
    assert famfs_bytes(image, "f") == b"A" * 10000


def test_cp_compare_of_a_missing_copy_fails_and_creates_nothing(cli, image: str,
                                                                tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x" * 100)
    proc = cli("cp", "-c", str(src), f"{image}:f")
    assert proc.returncode != 0 and "no such famfs file" in proc.stderr
    assert names(image) == set()


def test_cp_recursive_into_a_missing_parent_fails(cli, image: str, tmp_path: Path) -> None:
    (tmp_path / "A").mkdir()
    (tmp_path / "A" / "f").write_bytes(b"x")
    proc = cli("cp", "-r", str(tmp_path / "A"), f"{image}:missing/foo")
    assert proc.returncode != 0 and "missing" in proc.stderr and "does not exist" in proc.stderr
    assert names(image) == set()


def test_cp_to_a_slash_destination_that_is_a_file_is_refused(cli, image: str,
                                                              tmp_path: Path) -> None:
    src = tmp_path / "s"
    src.write_bytes(b"x" * 10)
    cli("cp", str(src), f"{image}:file", check=True)
    proc = cli("cp", str(src), f"{image}:file/")
    assert proc.returncode != 0 and "not a directory" in proc.stderr
    proc = cli("cp", str(src), f"{image}:nodir/")
    assert proc.returncode != 0 and "not a directory" in proc.stderr
    assert names(image) == {"file"}


# --- messages -----------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [("getmap", "{image}"), ("verify", "-S", "1", "-f", "{image}")])
def test_an_image_without_a_path_suggests_image_colon_path(cli, image: str, argv) -> None:
    proc = cli(*[a.format(image=image) for a in argv])
    assert proc.returncode != 0
    assert f"{image}:PATH" in proc.stderr


def test_getmap_quiet_prints_nothing(cli, image: str) -> None:
    cli("creat", "-s", "4k", f"{image}:f", check=True)
    good = cli("getmap", "-q", f"{image}:f")
    bad = cli("getmap", "-q", f"{image}:nope")
    assert (good.returncode, good.stdout, good.stderr) == (0, "", "")
    assert (bad.returncode, bad.stdout, bad.stderr) == (1, "", "")


def test_a_file_without_famfs_says_how_to_make_one(cli, tmp_path: Path) -> None:
    blank = tmp_path / "blank.img"
    blank.write_bytes(bytes(16 * MiB))
    for argv in (("fsck", str(blank)), ("logplay", str(blank)),
                 ("getmap", f"{blank}:x"), ("mkmeta", str(blank))):
        proc = cli(*argv)
        assert proc.returncode == 1, argv
        assert "not a famfs image (make one with mkfs.famfs)" in proc.stderr, argv


@pytest.mark.parametrize("argv", [
    ("verify", "-S", "1", "-f", "{image}:nope"), ("verify", "-S", "1"), ("creat", "{image}:x"),
    ("getmap", "{image}:nope"), ("flush", "{image}:nope"), ("mkdir", "{image}:a/b"),
    ("cp", "/nonexistent", "{image}:x"),
])
def test_messages_name_the_command_once(cli, image: str, argv) -> None:
    proc = cli(*[a.format(image=image) for a in argv])
    assert proc.returncode != 0
    for line in proc.stderr.splitlines():
        assert line.count(argv[0]) <= 1 + line.count(f"/{argv[0]}"), line


def test_flush_reports_errors_and_still_flushes_the_rest(cli, image: str) -> None:
    cli("creat", "-s", "4k", f"{image}:f", check=True)
    cli("mkdir", f"{image}:d", check=True)
    proc = cli("flush", "-vv", f"{image}:f", f"{image}:d")
    assert proc.returncode == 1
    assert "is a directory" in proc.stderr
    assert "1 errors were detected" in proc.stdout


def test_chkread_compares_read_and_mmap(cli, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"famfs" * 1000)
    proc = cli("chkread", str(plain))
    assert proc.returncode == 0 and "Read and mmap match" in proc.stdout
    assert cli("chkread", str(tmp_path / "missing")).returncode == 1


def test_mkmeta_checks_the_device(cli, image: str, tmp_path: Path) -> None:
    proc = cli("mkmeta", image)
    assert proc.returncode == 0 and "not mounted" in proc.stdout
    assert cli("mkmeta", str(tmp_path / "nonexistent")).returncode == 1


def test_mkfs_after_kill_needs_no_force(cli, image_path: str) -> None:
    """The reference's own set-up sequence: kill the old superblock, then make a new one."""
    cli("-s", "64m", image_path, prog="mkfs.famfs", check=True)
    assert cli("-k", image_path, prog="mkfs.famfs").returncode != 0
    cli("-f", "-k", image_path, prog="mkfs.famfs", check=True)
    proc = cli(image_path, prog="mkfs.famfs")
    assert proc.returncode == 0, proc.stderr
    assert cli(image_path, prog="mkfs.famfs").returncode == 1


def test_mkfs_still_refuses_a_file_with_other_data(cli, tmp_path: Path) -> None:
    path = tmp_path / "data.img"
    path.write_bytes(b"\0" * 8 + b"precious" * (2 * MiB))
    proc = cli(str(path), prog="mkfs.famfs")
    assert proc.returncode == 1 and "not a famfs" in proc.stderr
