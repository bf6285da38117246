"""`famfs creat`: allocate and log files of exact sizes, optionally filled with the pattern."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid

import pytest

from famfs import pattern
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import File
from famfs.mapping.files import file_pieces, read_file

MiB = 1 << 20


@pytest.fixture
def image(image_path: str) -> str:
    mkfs(image_path, size=256 * MiB)
    return image_path


def entries(image: str) -> int:
    with Filesystem(image) as fs:
        return fs.log.header().next_index


def lookup(image: str, relpath: str) -> File:
    with Filesystem(image) as fs:
        node = fs.file(relpath)
    return node


def image_digest(image: str) -> str:
    with open(image, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_creat_logs_a_file_of_exactly_the_size(cli, image: str) -> None:
    proc = cli("creat", "-s", "3000", f"{image}:f")
    assert proc.returncode == 0, proc.stderr
    assert lookup(image, "f").size == 3000


def test_creat_same_path_and_size_is_a_no_op(cli, image: str) -> None:
    cli("creat", "-s", "1m", f"{image}:f", check=True)
    before = entries(image)
    proc = cli("creat", "-s", "1m", f"{image}:f")
    assert proc.returncode == 0, proc.stderr
    assert entries(image) == before


def test_creat_same_path_other_size_fails_and_changes_nothing(cli, image: str) -> None:
    cli("creat", "-s", "1m", f"{image}:f", check=True)
    digest = image_digest(image)
    proc = cli("creat", "-s", "2m", f"{image}:f")
    assert proc.returncode != 0
    assert "size" in proc.stderr and "Traceback" not in proc.stderr
    assert image_digest(image) == digest


def test_creat_rejects_size_zero(cli, image: str) -> None:
    proc = cli("creat", "-s", "0", f"{image}:f")
    assert proc.returncode != 0 and "empty" in proc.stderr
    assert entries(image) == 0


def test_creat_seed_without_randomize_fails(cli, image: str) -> None:
    proc = cli("creat", "-s", "1m", "-S", "5", f"{image}:f")
    assert proc.returncode != 0 and "-r" in proc.stderr
    assert entries(image) == 0


def test_creat_randomize_fills_the_verify_pattern(cli, image: str) -> None:
    cli("creat", "-s", "1000003", "-r", "-S", "77", f"{image}:f", check=True)
    with Filesystem(image) as fs:
        data = read_file(fs, fs.file("f"), 0, 1000003)
    assert data == pattern.pattern_bytes(77, 1000003)


def test_creat_randomize_again_with_same_size_rerandomizes(cli, image: str) -> None:
    cli("creat", "-s", "1m", "-r", "-S", "1", f"{image}:f", check=True)
    cli("creat", "-s", "1m", "-r", "-S", "2", f"{image}:f", check=True)
    assert cli("verify", "-S", "2", "-f", f"{image}:f").returncode == 0
    assert entries(image) == 1


def test_creat_default_mode_is_0644_less_the_umask(image: str) -> None:
    cmd = f"umask 027; exec {sys.executable} -m famfs creat -s 4k {image}:f"
    subprocess.run(["sh", "-c", cmd], check=True, capture_output=True)
    assert lookup(image, "f").mode == 0o640


def test_creat_records_mode_uid_and_gid(cli, image: str) -> None:
    cli("creat", "-s", "4k", "-m", "0600", "-u", "1234", "-g", "99", f"{image}:f", check=True)
    node = lookup(image, "f")
    assert (node.mode & 0o600, node.uid, node.gid) == (0o600, 1234, 99)


def test_creat_multi_makes_many_files_in_one_append(cli, image: str) -> None:
    args = []
    for i in range(50):
        args += ["-M", f"{image}:m{i},{1000 + i}" + (f",{i + 1}" if i % 2 else "")]
    proc = cli("creat", *args)
    assert proc.returncode == 0, proc.stderr
    with Filesystem(image) as fs:
        assert fs.log.header().next_index == 50
        for i in range(50):
            node = fs.file(f"m{i}")
            assert node.size == 1000 + i
            if i % 2:
                assert read_file(fs, node, 0, node.size) == pattern.pattern_bytes(i + 1, node.size)



def test_creat_multi_with_threads_fills_every_seeded_file(cli, image: str) -> None:
    sizes = {f"t{i}": (3 << 20) + i for i in range(6)}
    args = []
    for i, (name, size) in enumerate(sizes.items()):
        args += ["-M", f"{image}:{name},{size},{i + 10}"]
    proc = cli("creat", "-t", "4", *args)
    assert proc.returncode == 0, proc.stderr
    with Filesystem(image) as fs:
        for i, (name, size) in enumerate(sizes.items()):
            node = fs.file(name)
            assert read_file(fs, node, 0, size) == pattern.pattern_bytes(i + 10, size)

def test_creat_multi_reports_a_bad_file_and_creates_the_rest(cli, image: str) -> None:
    cli("creat", "-s", "1m", f"{image}:taken", check=True)
    proc = cli("creat", "-M", f"{image}:a,4k", "-M", f"{image}:taken,2m", "-M", f"{image}:b,4k")
    assert proc.returncode != 0
    assert "taken" in proc.stderr
    assert lookup(image, "a").size == 4096 and lookup(image, "b").size == 4096


def test_creat_interleaved_file_verifies(cli, image: str) -> None:
    proc = cli("creat", "-s", "9m", "-N", "2", "-B", "4", "-C", "2m", "-r", "-S", "9",
               f"{image}:striped")
    assert proc.returncode == 0, proc.stderr
    with Filesystem(image) as fs:
        node = fs.file("striped")
        assert node.entry.fmap.interleave is not None
        assert pattern.first_mismatch_pieces(file_pieces(fs, node), 9) is None
    assert cli("verify", "-S", "9", "-f", f"{image}:striped").returncode == 0


def test_creat_in_a_missing_directory_fails_clearly(cli, image: str) -> None:
    proc = cli("creat", "-s", "4k", f"{image}:no/such/f")
    assert proc.returncode != 0 and "no" in proc.stderr and "Traceback" not in proc.stderr


def test_creat_on_a_client_is_refused_and_changes_nothing(cli, image: str) -> None:
    digest = image_digest(image)
    proc = cli("creat", "-s", "4k", f"{image}:f", env={"FAMFS_SYSTEM_UUID": str(uuid.uuid4())})
    assert proc.returncode != 0
    assert "client" in proc.stderr and "Traceback" not in proc.stderr
    assert image_digest(image) == digest


def test_creat_path_longer_than_79_bytes_is_refused(cli, image: str) -> None:
    proc = cli("creat", "-s", "4k", f"{image}:{'x' * 80}")
    assert proc.returncode != 0 and "79" in proc.stderr
    assert os.path.exists(image) and entries(image) == 0


def test_creat_multi_on_a_client_is_refused_and_changes_nothing(cli, image: str) -> None:
    digest = image_digest(image)
    proc = cli("creat", "-M", f"{image}:a,4k", "-M", f"{image}:b,4k,3",
               env={"FAMFS_SYSTEM_UUID": str(uuid.uuid4())})
    assert proc.returncode != 0
    assert "client" in proc.stderr and "Traceback" not in proc.stderr
    assert image_digest(image) == digest
