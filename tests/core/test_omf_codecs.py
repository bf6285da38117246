"""On-media codecs: every valid value round-trips; every bad field is named; address math."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from famfs.errors import CorruptError, NoSuperblockError, PathError, WrongVersionError
from famfs.omf.fmap import FileMap, SimpleExtent, check_fmap, decode_fmap, encode_fmap
from famfs.omf.layout import LOG_ENTRY_SIZE, MiB, log_last_index
from famfs.omf.log import (
    AddDaxdevEntry,
    FileEntry,
    LogHeader,
    MkdirEntry,
    check_relpath,
    decode_entry,
    encode_entry,
)
from famfs.omf.superblock import Superblock

AU = 2 * MiB
_U32 = st.integers(0, 0xFFFFFFFF)
_U64 = st.integers(0, (1 << 64) - 1)
_NAME = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/."),
                min_size=1, max_size=12)
_RELPATH = st.lists(_NAME, min_size=1, max_size=5).map("/".join).filter(
    lambda p: len(p.encode()) < 80)
_EXTENT = st.builds(SimpleExtent, st.integers(0, 63), _U64, _U64)
_FMAP = st.one_of(
    st.lists(_EXTENT, min_size=1, max_size=16).map(FileMap.simple),
    st.builds(FileMap.interleaved, _U64, st.lists(_EXTENT, min_size=1, max_size=16)),
)


@settings(max_examples=200, deadline=None)
@given(relpath=_RELPATH, size=_U64, fmap=_FMAP, mode=st.integers(0, 0o7777), uid=_U32,
       gid=_U32, flags=_U32, seq=st.integers(0, 1 << 40))
def test_file_entries_round_trip(relpath, size, fmap, mode, uid, gid, flags, seq) -> None:
    entry = FileEntry(relpath, size, fmap, mode, uid, gid, flags)
    raw = encode_entry(seq, entry)
    assert len(raw) == LOG_ENTRY_SIZE
    assert decode_entry(raw, seq).payload == entry
    assert decode_entry(b"\0" * 7 + raw, seq, 7).payload == entry


@settings(max_examples=100, deadline=None)
@given(relpath=_RELPATH, mode=st.integers(0, 0o7777), uid=_U32, gid=_U32)
def test_mkdir_entries_round_trip(relpath, mode, uid, gid) -> None:
    entry = MkdirEntry(relpath, mode, uid, gid)
    assert decode_entry(encode_entry(3, entry), 3).payload == entry


@given(index=_U32, size=_U64, dev_uuid=st.binary(min_size=16, max_size=16))
def test_add_daxdev_entries_round_trip(index, size, dev_uuid) -> None:
    entry = AddDaxdevEntry(index, size, dev_uuid)
    assert decode_entry(encode_entry(0, entry), 0).payload == entry


@given(log_len=st.sampled_from([8 * MiB, 16 * MiB, 256 * MiB]),
       nxt=st.integers(0, 15420))
def test_log_headers_round_trip(log_len, nxt) -> None:
    head = LogHeader(log_len, nxt, nxt)
    back = LogHeader.decode(head.encode(), log_len)
    assert (back.next_index, back.next_seqnum, back.last_index) == \
        (nxt, nxt, log_last_index(log_len))


def test_an_8m_log_has_15420_slots() -> None:
    assert LogHeader(8 * MiB).slots == 15420 and log_last_index(8 * MiB) == 15419


def _sb(**kw) -> Superblock:  # type: ignore[no-untyped-def]
    base = dict(log_len=8 * MiB, device_size=256 * MiB, device_name="/dev/dax0.0",
                fs_uuid=uuid.uuid4(), dev_uuid=uuid.uuid4(), system_uuid=uuid.uuid4())
    base.update(kw)
    return Superblock(**base)


def test_superblocks_round_trip() -> None:
    sb = _sb()
    back = Superblock.decode(sb.encode())
    assert back.encode() == sb.encode()
    assert (back.fs_uuid, back.device_size, back.device_name) == \
        (sb.fs_uuid, sb.device_size, sb.device_name)


@pytest.mark.parametrize(("kw", "error", "field"), [
    ({"magic": 1}, NoSuperblockError, "magic"),
    ({"version": 47}, WrongVersionError, "version"),
    ({"alloc_unit": 8192}, CorruptError, "alloc_unit"),
    ({"log_offset": 4 * MiB}, CorruptError, "log_offset"),
    ({"log_len": 12 * MiB}, CorruptError, "log_len"),
    ({"log_len": 4 * MiB}, CorruptError, "log_len"),
    ({"device_size": 4 * MiB}, CorruptError, "daxdev.size"),
    ({"device_size": 1 << 62}, CorruptError, "daxdev.size"),
])
def test_each_bad_superblock_field_is_named(kw, error, field) -> None:
    with pytest.raises(error, match=f"superblock: field {field}"):
        Superblock.decode(_sb(**kw).encode())


def test_a_superblock_whose_log_passes_the_device_end_is_refused() -> None:
    with pytest.raises(CorruptError, match="past the device end"):
        Superblock.decode(_sb().encode(), device_size=8 * MiB)


def test_a_bad_superblock_crc_is_named() -> None:
    raw = bytearray(_sb().encode())
    raw[50] ^= 1
    with pytest.raises(CorruptError, match="field crc"):
        Superblock.decode(bytes(raw))


@pytest.mark.parametrize("path", ["", "/abs", "..", "a/..", "a/./b", "a//b", "a/", "x" * 80,
                                  "nul\0byte"])
def test_bad_relpaths_are_refused(path: str) -> None:
    with pytest.raises(PathError):
        check_relpath(path)


def test_a_79_byte_relpath_is_fine() -> None:
    assert check_relpath("y" * 79) == b"y" * 79


def _check(fmap: FileMap, size: int = 1) -> None:
    check_fmap(fmap, size, 9, AU, {0: 64 * MiB}, data_start=10 * MiB)


@pytest.mark.parametrize(("ext", "field"), [
    (SimpleExtent(0, 0, AU), "offset"),
    (SimpleExtent(0, 10 * MiB + 4096, AU), "offset"),
    (SimpleExtent(0, 10 * MiB, 4096), "len"),
    (SimpleExtent(0, 10 * MiB, 0), "len"),
    (SimpleExtent(0, 2 * MiB, AU), "offset"),
    (SimpleExtent(0, 62 * MiB, 2 * AU), ""),
    (SimpleExtent(1, 10 * MiB, AU), "devindex"),
    (SimpleExtent(99, 10 * MiB, AU), "devindex"),
])
def test_each_bad_extent_is_named(ext: SimpleExtent, field: str) -> None:
    name = "fmap.se[0]" + (f".{field}" if field else "")
    with pytest.raises(CorruptError) as err:
        _check(FileMap.simple([ext]))
    assert str(err.value).startswith(f"log entry 9: field {name}: ")


def test_extents_smaller_than_the_file_are_refused() -> None:
    with pytest.raises(CorruptError, match="less than the file size"):
        _check(FileMap.simple([SimpleExtent(0, 10 * MiB, AU)]), size=AU + 1)


@pytest.mark.parametrize("chunk", [0, 3 * AU, 4096])
def test_bad_chunk_sizes_are_refused(chunk: int) -> None:
    fmap = FileMap.interleaved(chunk, [SimpleExtent(0, 10 * MiB, AU)])
    with pytest.raises(CorruptError, match="ie_chunk_size"):
        _check(fmap)


@pytest.mark.parametrize(("ext_type", "count", "field"), [
    (0, 0, "nextents"), (0, 17, "nextents"), (1, 2, "nextents"), (2, 1, "ext_type"),
])
def test_bad_fmap_counts_and_types_are_named(ext_type, count, field) -> None:
    raw = bytearray(encode_fmap(FileMap.simple([SimpleExtent(0, 10 * MiB, AU)])))
    raw[0:4] = ext_type.to_bytes(4, "little")
    raw[8:12] = count.to_bytes(4, "little")
    with pytest.raises(CorruptError, match=f"field fmap.{field}"):
        decode_fmap(bytes(raw), 0, 4)


@pytest.mark.parametrize("nstrips", [0, 17])
def test_bad_strip_counts_are_named(nstrips: int) -> None:
    raw = bytearray(encode_fmap(FileMap.interleaved(AU, [SimpleExtent(0, 10 * MiB, AU)])))
    raw[16:24] = nstrips.to_bytes(8, "little")
    with pytest.raises(CorruptError, match="ie_nstrips"):
        decode_fmap(bytes(raw), 0, 4)
