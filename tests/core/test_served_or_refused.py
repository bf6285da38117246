"""What fsck accepts, every tool serves; what cannot be served, fsck and every command refuse,
naming the entry and the field. And nothing is appended that has not been checked whole."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest

import famfs
from famfs.errors import CorruptError, UsageError, WrongVersionError
from famfs.fs.filesystem import Filesystem
from famfs.fs.fsck import fsck
from famfs.fs.mkfs import mkfs
from famfs.omf.fmap import FileMap, SimpleExtent
from famfs.omf.layout import GiB, MiB
from famfs.omf.log import AddDaxdevEntry, FileEntry

AU = 2 * MiB


def digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def append_raw(path: str, payload) -> None:
    """Append `payload` as it is (past every filesystem check): what a foreign or damaged
    writer could leave in the log."""
    with Filesystem(path, writable=True) as fs, fs.device.append_lock():
        fs.log.append([payload])


def set_superblock_field(path: str, offset: int, fmt: str, value: int) -> None:
    with open(path, "r+b") as fh:
        sb = bytearray(fh.read(200))
        struct.pack_into(fmt, sb, offset, value)
        struct.pack_into("<Q", sb, 96, zlib.crc32(sb[:96]))
        fh.seek(0)
        fh.write(sb)


@pytest.fixture
def image(image_path: str) -> str:
    mkfs(image_path, size=256 * MiB)
    return image_path


def test_a_chunk_size_a_file_map_cannot_carry_is_refused_naming_entry_and_field(
        image: str, cli) -> None:
    strips = [SimpleExtent(0, 64 * MiB, 8 * GiB), SimpleExtent(0, 96 * MiB, 8 * GiB)]
    append_raw(image, FileEntry("huge-chunk", 4 * MiB, FileMap.interleaved(1 << 32, strips)))
    with pytest.raises(CorruptError, match=r"log entry 0: field fmap.ie_chunk_size"):
        fsck(image)
    for args in (("fsck", image), ("getmap", f"{image}:huge-chunk"), ("logplay", image)):
        proc = cli(*args)
        assert proc.returncode == 1 and "fmap.ie_chunk_size" in proc.stderr, args
        assert "Traceback" not in proc.stderr
    with pytest.raises(CorruptError, match="ie_chunk_size"):
        famfs.open(f"{image}:huge-chunk")


def test_creat_refuses_a_chunk_size_of_4_gib(image: str, cli) -> None:
    proc = cli("creat", "-s", "8m", "-N", "2", "-B", "2", "-C", "4g", f"{image}:f")
    assert proc.returncode != 0 and "chunk size" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_empty_interleaved_file_is_served_empty(image: str) -> None:
    strips = [SimpleExtent(0, 64 * MiB, AU), SimpleExtent(0, 96 * MiB, AU)]
    append_raw(image, FileEntry("empty-il", 0, FileMap.interleaved(AU, strips)))
    assert fsck(image).ok
    with famfs.open(f"{image}:empty-il") as f:
        assert f.size == 0 and f.read() == b""


def test_an_empty_simple_file_is_served_empty(image: str) -> None:
    append_raw(image, FileEntry("empty", 0, FileMap.simple([SimpleExtent(0, 64 * MiB, AU)])))
    with famfs.open(f"{image}:empty") as f:
        assert f.read() == b""


def test_a_strip_shorter_than_its_chunk_is_refused(image: str) -> None:
    strips = [SimpleExtent(0, 64 * MiB, AU), SimpleExtent(0, 96 * MiB, AU)]
    append_raw(image, FileEntry("short-strips", MiB, FileMap.interleaved(4 * MiB, strips)))
    with pytest.raises(CorruptError, match="log entry 0: field fmap.ie_strips"):
        fsck(image)


def test_a_filesystem_with_a_4_kib_allocation_unit_is_served_end_to_end(
        image: str, cli, tmp_path) -> None:
    set_superblock_field(image, 32, "<Q", 4096)
    source = tmp_path / "src"
    data = bytes(range(256)) * 40
    source.write_bytes(data)
    assert cli("cp", str(source), f"{image}:copied").returncode == 0
    assert cli("creat", "-s", "20000", "-r", "-S", "5", f"{image}:rand").returncode == 0
    with Filesystem(image) as fs:
        (ext,) = fs.file("copied").entry.fmap.extents
        assert ext.length == 12288  # three 4 KiB units
    with famfs.open(f"{image}:copied") as f:
        assert f.read() == data
        view = f.view()
        assert bytes(view) == data
        del view
    assert cli("verify", "-S", "5", "-f", f"{image}:rand").returncode == 0
    assert fsck(image).ok


def test_another_on_media_major_version_is_a_wrong_version(image: str, cli) -> None:
    set_superblock_field(image, 40, "<I", 3)
    with pytest.raises(WrongVersionError, match="omf_major"):
        fsck(image)
    proc = cli("fsck", image)
    assert proc.returncode == 1 and "omf_major" in proc.stderr


def test_an_append_that_fails_its_checks_leaves_the_log_byte_identical(image: str) -> None:
    before = digest(image)
    with Filesystem(image, writable=True) as fs, fs.device.append_lock():
        with pytest.raises(UsageError):
            fs.log.append([FileEntry("ok", MiB, FileMap.simple([SimpleExtent(0, 64 * MiB, AU)])),
                           FileEntry("bad", MiB, FileMap.simple([]), uid=1 << 40)])
        with pytest.raises(CorruptError):
            fs.log.append([FileEntry("ok", MiB, FileMap.simple([SimpleExtent(0, 64 * MiB, AU)])),
                           FileEntry("no-extents", MiB, FileMap.simple([]))])
    assert digest(image) == before


def test_a_huge_device_added_to_the_log_costs_no_memory_until_used(image: str) -> None:
    for index in range(1, 64):
        append_raw(image, AddDaxdevEntry(index, 64 << 40, bytes([index]) * 16))
    report = fsck(image)
    assert report.ok and report.capacity == 256 * MiB + 63 * (64 << 40)
