"""Damaged images, generated: open, fsck and logplay must fail cleanly or succeed safely.

Every damage is applied to a small valid image (a directory, simple files, an interleaved
file). The properties: only FamfsError subclasses escape (in-process), the image is never
written, and whatever is accepted lies inside the device. A few cases go through the real CLI,
which must exit 1 with an error line naming the entry and field, and no traceback.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import uuid
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from famfs.alloc import InterleaveParams
from famfs.errors import CorruptError, FamfsError
from famfs.fs.filesystem import Filesystem, NewFile
from famfs.fs.fsck import fsck
from famfs.fs.mkfs import mkfs
from famfs.fs.namespace import File
from famfs.fs.shadow import write_shadow
from famfs.mapping.files import read_file
from famfs.omf.layout import LOG_ENTRY_SIZE, LOG_HEADER_SIZE, LOG_OFFSET, MiB

IMAGE_SIZE = 32 * MiB
META = LOG_OFFSET + LOG_HEADER_SIZE + 16 * LOG_ENTRY_SIZE
"""Bytes of the template worth keeping: superblock, log header and the used slots."""

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _build_template() -> tuple[bytes, int]:
    """(metadata bytes of a valid image, number of log entries)."""
    fd, path = tempfile.mkstemp(dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    os.close(fd)
    env = os.environ.get("FAMFS_SYSTEM_UUID")
    os.environ["FAMFS_SYSTEM_UUID"] = str(uuid.UUID(int=1))
    try:
        mkfs(path, size=IMAGE_SIZE, force=True)
        with Filesystem(path, writable=True) as fs:
            fs.mkdir("dir/sub", parents=True)
            fs.create_file("a", 1)
            fs.create_file("dir/sub/il", 4 * MiB, interleave=InterleaveParams(2, 2, 2 * MiB))
            fs.create_files([NewFile("dir/b", 2 * MiB + 5, mode=0o600)])
            count = fs.log.header().next_index
        with open(path, "rb") as fh:
            return fh.read(META), count
    finally:
        if env is None:
            os.environ.pop("FAMFS_SYSTEM_UUID", None)
        else:
            os.environ["FAMFS_SYSTEM_UUID"] = env
        os.unlink(path)


TEMPLATE, ENTRIES = _build_template()
ENTRY0 = LOG_OFFSET + LOG_HEADER_SIZE


def _entry_at(index: int) -> int:
    return ENTRY0 + index * LOG_ENTRY_SIZE


def _recrc_entry(meta: bytearray, index: int) -> None:
    off = _entry_at(index)
    struct.pack_into("<Q", meta, off + 536, zlib.crc32(meta[off:off + 536]))


def _recrc_header(meta: bytearray) -> None:
    struct.pack_into("<Q", meta, LOG_OFFSET + 24, zlib.crc32(meta[LOG_OFFSET:LOG_OFFSET + 24]))


def _recrc_superblock(meta: bytearray) -> None:
    struct.pack_into("<Q", meta, 96, zlib.crc32(meta[:96]))


def _write_image(path: str, meta: bytes, size: int = IMAGE_SIZE) -> None:
    with open(path, "wb") as fh:
        fh.truncate(size)
        fh.write(meta[:size])


def _digest(path: str) -> tuple[str, int, int]:
    """Hash of the metadata region, with the size and modification time of the whole image
    (any write elsewhere moves the time)."""
    with open(path, "rb") as fh:
        head = hashlib.sha256(fh.read(META)).hexdigest()
    st = os.stat(path)
    return head, st.st_size, st.st_mtime_ns


def _check_everything(path: str, shadow: Path) -> None:
    """Open, fsck and shadow-replay `path`: only FamfsError may escape, nothing is written,
    and every accepted extent lies inside the device."""
    before = _digest(path)
    size = os.path.getsize(path)
    try:
        with Filesystem(path) as fs:
            for node in fs.namespace.walk():
                if isinstance(node, File):
                    for ext in node.entry.fmap.all_extents():
                        assert ext.devindex != 0 or ext.offset + ext.length <= size
                        assert ext.devindex != 0 or ext.offset >= fs.data_start
                    if node.size and all(e.devindex == 0 for e in node.entry.fmap.all_extents()):
                        read_file(fs, node, 0, 1)
                        read_file(fs, node, node.size - 1, 1)
            write_shadow(fs.namespace, str(shadow))
    except FamfsError:
        pass
    try:
        fsck(path, keep_nodes=True).render(human=True, verbose=True)
    except FamfsError:
        pass
    assert _digest(path) == before


@pytest.fixture
def work(tmp_path: Path, image_path: str) -> tuple[str, Path]:
    return image_path, tmp_path


_REGIONS = st.sampled_from([
    (0, 200),                                   # superblock fields
    (LOG_OFFSET, LOG_OFFSET + LOG_HEADER_SIZE),  # log header
    (ENTRY0, _entry_at(ENTRIES)),                # used entries
])


@SETTINGS
@given(region=_REGIONS, data=st.data())
def test_random_byte_flips_fail_cleanly(work, region, data) -> None:
    path, tmp = work
    lo, hi = region
    meta = bytearray(TEMPLATE)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(lo, hi - 1))
        meta[pos] ^= data.draw(st.integers(1, 255))
    _write_image(path, meta)
    _check_everything(path, tmp / "shadow")


@SETTINGS
@given(region=_REGIONS, data=st.data())
def test_byte_flips_with_recomputed_crcs_fail_cleanly(work, region, data) -> None:
    """Damage the CRCs do not catch: the field checks must."""
    path, tmp = work
    lo, hi = region
    meta = bytearray(TEMPLATE)
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(lo, hi - 1))
        meta[pos] = data.draw(st.integers(0, 255))
    _recrc_superblock(meta)
    _recrc_header(meta)
    for i in range(ENTRIES):
        _recrc_entry(meta, i)
    _write_image(path, meta)
    _check_everything(path, tmp / "shadow")


_U64 = st.one_of(st.sampled_from([0, 1, 2 * MiB - 1, 2 * MiB, 10 * MiB, IMAGE_SIZE - 2 * MiB,
                                  IMAGE_SIZE, 1 << 63, (1 << 64) - 1]),
                 st.integers(0, (1 << 64) - 1))
_U32 = st.one_of(st.sampled_from([0, 1, 2, 3, 4, 15, 16, 17, 64, 0xFFFFFFFF]),
                 st.integers(0, 0xFFFFFFFF))
# (offset within the entry, struct format) of every numeric field of a FILE entry
_FILE_FIELDS = [
    (0, "<Q"), (8, "<I"), (16, "<Q"), (24, "<I"), (28, "<I"), (32, "<I"), (36, "<I"),
    (120, "<I"), (128, "<I"),
    (136, "<Q"), (144, "<Q"), (152, "<Q"),   # se[0] or ie_nstrips, ie_chunk_size, strip 0 dev
    (160, "<Q"), (168, "<Q"), (176, "<Q"),
]


@settings(SETTINGS, max_examples=150)
@given(index=st.integers(0, ENTRIES - 1), field=st.sampled_from(_FILE_FIELDS), data=st.data())
def test_entry_fields_set_to_edge_values_fail_cleanly(work, index, field, data) -> None:
    path, tmp = work
    rel, fmt = field
    value = data.draw(_U64 if fmt == "<Q" else _U32)
    meta = bytearray(TEMPLATE)
    struct.pack_into(fmt, meta, _entry_at(index) + rel, value)
    _recrc_entry(meta, index)
    _write_image(path, meta)
    _check_everything(path, tmp / "shadow")


_BAD_PATHS = [b"", b"/abs", b"..", b"a/../b", b"a//b", b"./a", b"a/", b"\xff\xfe", b"x" * 80,
              b"dir/b", b"a/inside-file", b"dir"]


@SETTINGS
@given(index=st.integers(0, ENTRIES - 1), raw=st.sampled_from(_BAD_PATHS))
def test_entry_paths_that_are_bad_or_clash_fail_cleanly(work, index, raw) -> None:
    path, tmp = work
    meta = bytearray(TEMPLATE)
    off = _entry_at(index)
    (etype,) = struct.unpack_from("<I", meta, off + 8)
    field = off + 16 + (24 if etype == 0 else 12)
    meta[field:field + 80] = raw[:80].ljust(80, b"\0")
    _recrc_entry(meta, index)
    _write_image(path, meta)
    _check_everything(path, tmp / "shadow")


@SETTINGS
@given(index=st.integers(0, ENTRIES - 1), keep=st.integers(0, LOG_ENTRY_SIZE - 1))
def test_torn_entries_fail_cleanly(work, index, keep) -> None:
    path, tmp = work
    meta = bytearray(TEMPLATE)
    off = _entry_at(index)
    meta[off + keep:off + LOG_ENTRY_SIZE] = bytes(LOG_ENTRY_SIZE - keep)
    _write_image(path, meta)
    with pytest.raises(CorruptError, match=f"log entry {index}"):
        Filesystem(path)
    _check_everything(path, tmp / "shadow")


@SETTINGS
@given(next_index=st.integers(0, (1 << 64) - 1), next_seqnum=st.integers(0, (1 << 64) - 1))
def test_header_counters_fail_cleanly(work, next_index, next_seqnum) -> None:
    path, tmp = work
    meta = bytearray(TEMPLATE)
    struct.pack_into("<QQ", meta, LOG_OFFSET + 32, next_seqnum, next_index)
    _write_image(path, meta)
    _check_everything(path, tmp / "shadow")


@SETTINGS
@given(field=st.sampled_from([(8, "<Q"), (16, "<Q"), (24, "<Q"), (32, "<Q"), (40, "<I"),
                              (112, "<Q")]),
       value=_U64)
def test_superblock_fields_fail_cleanly(work, field, value) -> None:
    path, tmp = work
    rel, fmt = field
    meta = bytearray(TEMPLATE)
    struct.pack_into(fmt, meta, rel, value & (0xFFFFFFFF if fmt == "<I" else (1 << 64) - 1))
    _recrc_superblock(meta)
    _write_image(path, meta)
    _check_everything(path, tmp / "shadow")


@SETTINGS
@given(size=st.integers(0, IMAGE_SIZE))
def test_truncated_devices_never_expose_bytes_past_their_end(work, size) -> None:
    path, tmp = work
    _write_image(path, TEMPLATE, size)
    _check_everything(path, tmp / "shadow")


def test_an_extent_past_the_device_names_entry_and_field(work) -> None:
    path, _ = work
    meta = bytearray(TEMPLATE)
    struct.pack_into("<Q", meta, _entry_at(2) + 144, IMAGE_SIZE)
    _recrc_entry(meta, 2)
    _write_image(path, meta)
    with pytest.raises(CorruptError, match=r"log entry 2: field fmap.se\[0\]"):
        fsck(path)


# --- through the real command line ---------------------------------------------------------

_CLI_CASES = {
    "entry-crc": (lambda m: m.__setitem__(_entry_at(1) + 40, m[_entry_at(1) + 40] ^ 1),
                  "log entry 1: field crc"),
    "seqnum": (lambda m: (struct.pack_into("<Q", m, _entry_at(2), 7), _recrc_entry(m, 2)),
               "log entry 2: field seqnum"),
    "offset-zero": (lambda m: (struct.pack_into("<Q", m, _entry_at(2) + 144, 0),
                               _recrc_entry(m, 2)), "log entry 2: field fmap.se[0].offset"),
    "misaligned": (lambda m: (struct.pack_into("<Q", m, _entry_at(2) + 144, 10 * MiB + 4096),
                              _recrc_entry(m, 2)), "log entry 2: field fmap.se[0].offset"),
    "dotdot": (lambda m: (m.__setitem__(slice(_entry_at(2) + 40, _entry_at(2) + 45), b"../x\0"),
                          _recrc_entry(m, 2)), "log entry 2: field relpath"),
    "too-many-extents": (lambda m: (struct.pack_into("<I", m, _entry_at(2) + 128, 17),
                                    _recrc_entry(m, 2)), "log entry 2: field fmap.nextents"),
    "header-next-index": (lambda m: struct.pack_into("<QQ", m, LOG_OFFSET + 32, 99999, 99999),
                          "log header: field next_index"),
    "superblock-crc": (lambda m: m.__setitem__(20, m[20] ^ 0x10), "superblock: field crc"),
}


@pytest.mark.parametrize("case", sorted(_CLI_CASES))
def test_cli_reports_damage_by_entry_and_field(work, cli, case: str) -> None:
    path, tmp = work
    damage, message = _CLI_CASES[case]
    meta = bytearray(TEMPLATE)
    damage(meta)
    _write_image(path, meta)
    before = _digest(path)
    for args in (("fsck", path), ("logplay", path),
                 ("logplay", "--shadow", str(tmp / "s"), "--daxdev", path)):
        proc = cli(*args)
        assert proc.returncode == 1, (args, proc.stdout)
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert _digest(path) == before


def test_cli_fsck_fails_on_an_overlapping_extent_naming_the_entry(work, cli) -> None:
    path, _ = work
    meta = bytearray(TEMPLATE)
    a_offset = struct.unpack_from("<Q", meta, _entry_at(2) + 144)[0]
    struct.pack_into("<Q", meta, _entry_at(4) + 144, a_offset)
    _recrc_entry(meta, 4)
    _write_image(path, meta)
    proc = cli("fsck", path)
    assert proc.returncode == 1
    assert "log entry 4" in proc.stderr and "collision" in proc.stderr
