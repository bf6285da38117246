"""A device shorter than its superblock says: reported by fsck (non-zero), and every command
that would write refuses before touching it."""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest

from famfs.errors import DeviceError
from famfs.fs.filesystem import Filesystem
from famfs.fs.fsck import fsck
from famfs.fs.mkfs import mkfs
from famfs.omf.layout import MiB

DEVICE_SIZE_FIELD = 112


def digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def short_image(image_path: str) -> str:
    """A 64 MiB famfs with one file, then cut to 40 MiB."""
    mkfs(image_path, size=64 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        fs.mkdir("d")
        fs.create_file("d/f", MiB)
    os.truncate(image_path, 40 * MiB)
    return image_path


@pytest.fixture
def claims_64_tib(image_path: str) -> str:
    """A 64 MiB image whose superblock claims 64 TiB (the field is not covered by the CRC)."""
    mkfs(image_path, size=64 * MiB)
    with open(image_path, "r+b") as fh:
        fh.seek(DEVICE_SIZE_FIELD)
        fh.write(struct.pack("<Q", 64 << 40))
    return image_path


@pytest.mark.parametrize("fixture", ["short_image", "claims_64_tib"])
def test_fsck_reports_a_short_device_and_fails(fixture: str, request, cli) -> None:
    path = request.getfixturevalue(fixture)
    report = fsck(path)
    assert not report.ok and "superblock records" in report.problems[0]
    proc = cli("fsck", path)
    assert proc.returncode == 1
    assert "superblock records" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("fixture", ["short_image", "claims_64_tib"])
def test_writing_commands_refuse_a_short_device_and_change_nothing(
        fixture: str, request, cli, tmp_path: Path) -> None:
    path = request.getfixturevalue(fixture)
    source = tmp_path / "src"
    source.write_bytes(b"x" * 5000)
    before = digest(path)
    for args in (("creat", "-s", "1m", f"{path}:new"), ("mkdir", f"{path}:e"),
                 ("cp", str(source), f"{path}:copied"), ("clone", f"{path}:d/f", f"{path}:c"),
                 ("creat", "-s", "1m", "-r", "-S", "1", f"{path}:rand")):
        if fixture == "claims_64_tib" and args[0] == "clone":
            continue
        proc = cli(*args)
        assert proc.returncode == 1, args
        assert "superblock records" in proc.stderr and "Traceback" not in proc.stderr, args
    assert digest(path) == before


def test_the_api_refuses_to_create_on_a_short_device(short_image: str) -> None:
    with Filesystem(short_image, writable=True) as fs, pytest.raises(DeviceError):
        fs.create_file("x", MiB)
