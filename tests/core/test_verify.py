"""`famfs verify`: check a file against the verify pattern and name the first bad offset."""

from __future__ import annotations

from pathlib import Path

import pytest

from famfs import pattern
from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.mapping.files import read_file, write_file

MiB = 1 << 20


@pytest.fixture
def image(image_path: str, cli) -> str:
    mkfs(image_path, size=128 * MiB)
    cli("creat", "-s", "3m", "-r", "-S", "1234", f"{image_path}:v", check=True)
    return image_path


def corrupt(image: str, relpath: str, offset: int) -> None:
    with Filesystem(image, writable=True) as fs:
        node = fs.file(relpath)
        byte = read_file(fs, node, offset, 1)
        write_file(fs, node, offset, bytes([byte[0] ^ 0xFF]))


def test_verify_accepts_a_randomized_file(cli, image: str) -> None:
    proc = cli("verify", "-S", "1234", "-f", f"{image}:v")
    assert proc.returncode == 0, proc.stderr
    assert "verified 3145728 bytes" in proc.stdout


def test_verify_reports_the_first_corrupted_offset(cli, image: str) -> None:
    corrupt(image, "v", 2_000_001)
    corrupt(image, "v", 2_500_000)
    proc = cli("verify", "-S", "1234", "-f", f"{image}:v")
    assert proc.returncode != 0
    assert f"Verify fail: {image}:v at offset 2000001" in proc.stderr


def test_verify_with_another_seed_fails_at_offset_0(cli, image: str) -> None:
    proc = cli("verify", "-S", "1235", "-f", f"{image}:v")
    assert proc.returncode != 0 and "at offset 0" in proc.stderr


def test_verify_multi_checks_each_file_and_fails_if_any_does(cli, image: str) -> None:
    cli("creat", "-s", "5000", "-r", "-S", "7", f"{image}:w", check=True)
    good = cli("verify", "-m", f"{image}:v,1234", "-m", f"{image}:w,7")
    assert good.returncode == 0, good.stderr
    bad = cli("verify", "-m", f"{image}:v,1234", "-m", f"{image}:w,8")
    assert bad.returncode != 0 and f"{image}:w" in bad.stderr


def test_verify_a_local_file(cli, tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_bytes(pattern.pattern_bytes(99, 12_345))
    assert cli("verify", "-S", "99", "-f", str(path)).returncode == 0


def test_verify_seed_zero_is_refused(cli, image: str) -> None:
    proc = cli("verify", "-S", "0", "-f", f"{image}:v")
    assert proc.returncode != 0 and "seed" in proc.stderr and "Traceback" not in proc.stderr


def test_verify_a_missing_file_fails_clearly(cli, image: str) -> None:
    proc = cli("verify", "-S", "1", "-f", f"{image}:nope")
    assert proc.returncode != 0 and "nope" in proc.stderr and "Traceback" not in proc.stderr


def test_verify_without_a_seed_fails_clearly(cli, image: str) -> None:
    proc = cli("verify", "-f", f"{image}:v")
    assert proc.returncode != 0 and "-S" in proc.stderr


@pytest.mark.parametrize("where", [0.25, 0.75])
def test_verify_of_a_big_file_finds_corruption_in_either_half(cli, image_path: str,
                                                             where: float) -> None:
    mkfs(image_path, size=256 * MiB, force=True)
    size = 80 * MiB + 3
    cli("creat", "-s", str(size), "-r", "-S", "21", f"{image_path}:big", check=True)
    with Filesystem(image_path) as fs:
        node = fs.file("big")
        tail = read_file(fs, node, size - 4096, 4096)
        assert tail == pattern.pattern_bytes(21, 4096, size - 4096)
    assert cli("verify", "-S", "21", "-f", f"{image_path}:big").returncode == 0
    bad = int(size * where)
    corrupt(image_path, "big", bad)
    corrupt(image_path, "big", size - 1)
    proc = cli("verify", "-S", "21", "-f", f"{image_path}:big")
    assert proc.returncode != 0 and f"at offset {bad} of {size}" in proc.stderr


def test_verify_multi_with_threads_checks_every_file(cli, image: str) -> None:
    cli("creat", "-M", f"{image}:w,2m,99", "-M", f"{image}:x,1m,7", check=True)
    corrupt(image, "x", 4096)
    proc = cli("verify", "-t", "3", "-m", f"{image}:v,1234", "-m", f"{image}:w,99",
               "-m", f"{image}:x,7")
    assert proc.returncode == 1
    assert f"Verify fail: {image}:x at offset 4096" in proc.stderr
    assert "Verify complete for 3 files with 1 errs" in proc.stdout
