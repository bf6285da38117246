"""GET_FMAP and GET_DAXDEV replies: golden bytes, round trips and every rejection rule."""

from __future__ import annotations

import struct

import pytest
from mapping_helpers import GOLDEN, golden_entry

from famfs.mapping.iomap import MappingError
from famfs.mapping.wire import (
    DAXDEV_REPLY_SIZE,
    FileType,
    GetFmapReply,
    WireExtent,
    WireInterleave,
    decode_get_daxdev,
    decode_get_fmap,
    decode_setup_reply,
    encode_fmap_reply,
    encode_get_daxdev,
    encode_get_fmap,
    encode_meta_fmap,
    encode_setup_reply,
)
from famfs.omf.fmap import ExtentType
from famfs.omf.layout import MiB

AU = 2 * MiB


def simple_reply(extents, size):
    return encode_fmap_reply(GetFmapReply(FileType.REG, ExtentType.SIMPLE, size,
                                          extents=tuple(WireExtent(*e) for e in extents)))


def interleave_reply(chunk, nbytes, strips, size, count=1):
    il = WireInterleave(chunk, nbytes, tuple(WireExtent(*s) for s in strips))
    return encode_fmap_reply(GetFmapReply(FileType.REG, ExtentType.INTERLEAVE, size,
                                          interleaves=(il,) * count))


def test_golden_entry0_encodes_to_reference_get_fmap_reply():
    assert encode_get_fmap(golden_entry(0)) == (GOLDEN / "get_fmap_entry0.bin").read_bytes()


def test_golden_entry3_encodes_to_reference_get_fmap_reply():
    assert encode_get_fmap(golden_entry(3)) == (GOLDEN / "get_fmap_entry3.bin").read_bytes()


def test_golden_interleaved_reply_decodes_to_its_log_entry():
    reply = decode_get_fmap((GOLDEN / "get_fmap_entry3.bin").read_bytes())
    entry = golden_entry(3)
    assert reply.ext_type == ExtentType.INTERLEAVE
    assert reply.file_size == entry.size
    (il,) = reply.interleaves
    assert il.chunk_size == entry.fmap.interleave.chunk_size
    assert [(s.devindex, s.offset, s.length) for s in il.strips] == [
        (s.devindex, s.offset, s.length) for s in entry.fmap.interleave.strips]
    assert reply.devices == {0}


def test_meta_fmap_is_one_extent_on_device_zero():
    reply = decode_get_fmap(encode_meta_fmap(FileType.LOG, 2 * MiB, 8 * MiB, 8 * MiB))
    assert reply.file_type == FileType.LOG
    assert reply.extents == (WireExtent(0, 2 * MiB, 8 * MiB),)
    assert reply.file_size == 8 * MiB


def test_daxdev_reply_is_280_bytes_and_round_trips():
    blob = encode_get_daxdev(5, "/dev/shm/some.img")
    assert len(blob) == DAXDEV_REPLY_SIZE == 280
    reply = decode_get_daxdev(blob)
    assert (reply.index, reply.name) == (5, "/dev/shm/some.img")


def test_truncated_reply_is_rejected_at_every_length():
    blob = (GOLDEN / "get_fmap_entry3.bin").read_bytes()
    for cut in range(len(blob)):
        with pytest.raises(MappingError):
            decode_get_fmap(blob[:cut])


def test_trailing_bytes_are_rejected():
    blob = (GOLDEN / "get_fmap_entry0.bin").read_bytes()
    with pytest.raises(MappingError, match="after the last extent"):
        decode_get_fmap(blob + bytes(24))


@pytest.mark.parametrize("n", [0, 33])
def test_nextents_outside_1_to_32_is_rejected(n):
    blob = bytearray(simple_reply([(0, AU, AU)], AU))
    struct.pack_into("<I", blob, 8, n)
    with pytest.raises(MappingError, match="nextents"):
        decode_get_fmap(bytes(blob))


def test_32_simple_extents_are_accepted():
    reply = decode_get_fmap(simple_reply([(0, AU * (i + 1), AU) for i in range(32)], 32 * AU))
    assert len(reply.extents) == 32


@pytest.mark.parametrize("n", [0, 33])
def test_nstrips_outside_1_to_32_is_rejected(n):
    strips = [(0, AU * (i + 1), AU) for i in range(max(n, 1))]
    blob = bytearray(interleave_reply(AU, AU, strips, AU))
    struct.pack_into("<I", blob, 32, n)
    with pytest.raises(MappingError):
        decode_get_fmap(bytes(blob))


def test_zero_nbytes_is_rejected():
    with pytest.raises(MappingError, match="nbytes"):
        decode_get_fmap(interleave_reply(AU, 0, [(0, AU, AU)], 0))


@pytest.mark.parametrize("field,extent", [("offset", (0, AU + 4096, AU)),
                                          ("len", (0, AU, AU + 4096)),
                                          ("len", (0, AU, 0))])
def test_unaligned_or_empty_extent_is_rejected(field, extent):
    with pytest.raises(MappingError, match=f"se\\[0\\].{field}"):
        decode_get_fmap(simple_reply([extent], 4096))


@pytest.mark.parametrize("chunk,ok", [(AU, True), (3 * AU, True), (4096, True), (8192, False),
                                      (AU + 4096, False), (0, False)])
def test_chunk_size_must_be_a_multiple_of_2mib_or_one_page(chunk, ok):
    blob = interleave_reply(chunk, 4096, [(0, AU, 4 * AU), (0, 8 * AU, 4 * AU)], 4096)
    if ok:
        assert decode_get_fmap(blob).interleaves[0].chunk_size == chunk
    else:
        with pytest.raises(MappingError, match="chunk_size"):
            decode_get_fmap(blob)


def test_device_index_64_is_rejected_and_63_accepted():
    assert decode_get_fmap(simple_reply([(63, AU, AU)], AU)).devices == {63}
    with pytest.raises(MappingError, match="devindex"):
        decode_get_fmap(simple_reply([(64, AU, AU)], AU))


def test_extents_smaller_than_file_size_are_rejected():
    with pytest.raises(MappingError, match="file_size"):
        decode_get_fmap(simple_reply([(0, AU, AU)], AU + 1))


def test_strips_too_short_for_nbytes_are_rejected():
    with pytest.raises(MappingError, match="nbytes"):
        decode_get_fmap(interleave_reply(AU, 5 * AU, [(0, AU, 2 * AU), (0, 8 * AU, 2 * AU)],
                                         5 * AU))


def test_unknown_version_file_type_and_ext_type_are_rejected():
    good = (GOLDEN / "get_fmap_entry0.bin").read_bytes()
    for offset, fmt, value, field in [(2, "<H", 2, "fmap_version"), (0, "<B", 3, "file_type"),
                                      (4, "<I", 2, "ext_type")]:
        blob = bytearray(good)
        struct.pack_into(fmt, blob, offset, value)
        with pytest.raises(MappingError, match=field):
            decode_get_fmap(bytes(blob))


def test_daxdev_reply_of_wrong_size_index_or_name_is_rejected():
    good = encode_get_daxdev(1, "/x")
    with pytest.raises(MappingError, match="bytes"):
        decode_get_daxdev(good[:-1])
    bad_index = bytearray(good)
    struct.pack_into("<H", bad_index, 0, 64)
    with pytest.raises(MappingError, match="index"):
        decode_get_daxdev(bytes(bad_index))
    unterminated = bytearray(good)
    unterminated[24:280] = b"a" * 256
    with pytest.raises(MappingError, match="NUL"):
        decode_get_daxdev(bytes(unterminated))
    with pytest.raises(MappingError, match="empty"):
        decode_get_daxdev(bytes(280))


def test_setup_reply_carries_map_and_devices():
    fmap = (GOLDEN / "get_fmap_entry0.bin").read_bytes()
    blob = encode_setup_reply(fmap, [encode_get_daxdev(0, "/dev/dax0.0")])
    got, devs = decode_setup_reply(blob)
    assert got == fmap
    assert [(d.index, d.name) for d in devs] == [(0, "/dev/dax0.0")]
    with pytest.raises(MappingError):
        decode_setup_reply(blob[:-1])


def test_extents_or_sizes_past_the_largest_file_offset_are_rejected():
    with pytest.raises(MappingError, match="largest device offset"):
        decode_get_fmap(simple_reply([(0, (1 << 63) - AU, AU)], AU))
    with pytest.raises(MappingError, match="largest file offset"):
        decode_get_fmap(simple_reply([(0, AU, AU)], 1 << 63))
    with pytest.raises(MappingError, match="largest file offset"):
        decode_get_fmap(interleave_reply(AU, (1 << 62) + AU, [(0, AU, (1 << 62))] * 2, AU,
                                         count=2))
