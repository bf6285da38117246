"""Names: bytes on media, as on Linux. Names that are not UTF-8 are taken as given, never a
traceback; `.meta` in the root belongs to the mount."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.mapping.files import read_file
from famfs.omf.layout import MiB
from famfs.omf.log import check_relpath

LATIN1 = b"caf\xe9"


@pytest.fixture
def image(image_path: str) -> str:
    mkfs(image_path, size=128 * MiB)
    return image_path


def test_cp_takes_a_name_that_is_not_utf8_byte_for_byte(image: str, cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "plain").write_bytes(b"plain")
    with open(os.path.join(os.fsencode(src), LATIN1), "wb") as fh:
        fh.write(b"latin-1 named")
    proc = cli("cp", "-r", str(src), f"{image}:dst")
    assert proc.returncode == 0, proc.stderr
    with Filesystem(image) as fs:
        node = fs.file("dst/" + os.fsdecode(LATIN1))
        assert read_file(fs, node, 0, node.size) == b"latin-1 named"
        assert check_relpath(node.relpath) == b"dst/" + LATIN1
        assert fs.file("dst/plain").size == 5


def test_creat_and_mkdir_take_names_that_are_not_utf8(image: str, cli) -> None:
    name = os.fsdecode(b"d\xff")
    assert cli("mkdir", f"{image}:{name}").returncode == 0
    proc = cli("creat", "-s", "4k", f"{image}:{name}/{os.fsdecode(LATIN1)}")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    with Filesystem(image) as fs:
        assert fs.file(f"{name}/{os.fsdecode(LATIN1)}").size == 4096


@pytest.mark.parametrize("path", [".meta", ".meta/x"])
def test_meta_in_the_root_is_reserved(image: str, cli, path: str) -> None:
    for args in (("creat", "-s", "4k", f"{image}:{path}"), ("mkdir", "-p", f"{image}:{path}")):
        proc = cli(*args)
        assert proc.returncode == 1 and "reserved" in proc.stderr, args
    with Filesystem(image) as fs:
        assert fs.log.header().next_index == 0


def test_meta_below_the_root_is_an_ordinary_name(image: str) -> None:
    with Filesystem(image, writable=True) as fs:
        fs.mkdir("d")
        fs.create_file("d/.meta", MiB)
