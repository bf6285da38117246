"""Golden vectors written by the reference famfs: decode every field, re-encode the same bytes,
and replay an image built from them (fsck, logplay --shadow YAML)."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import pytest
import yaml

from famfs.fs.filesystem import Filesystem
from famfs.fs.fsck import fsck
from famfs.fs.shadow import file_yaml
from famfs.omf.fmap import ExtentType
from famfs.omf.layout import LOG_ENTRY_SIZE, LOG_HEADER_SIZE, LOG_OFFSET, MiB
from famfs.omf.log import FileEntry, LogHeader, decode_entry, encode_entry
from famfs.omf.superblock import SUPERBLOCK_SIZE, Superblock

GOLDEN = Path(__file__).parent.parent / "data" / "famfs-golden"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())


@pytest.fixture(scope="module")
def sb_bytes() -> bytes:
    return gzip.decompress((GOLDEN / "superblock.bin.gz").read_bytes())


@pytest.fixture(scope="module")
def log_bytes() -> bytes:
    return gzip.decompress((GOLDEN / "log.bin.gz").read_bytes())


@pytest.fixture
def golden_image(image_path: str, sb_bytes: bytes, log_bytes: bytes) -> str:
    """A 256 MiB image: the golden superblock at 0 and the golden log at 2 MiB."""
    with open(image_path, "wb") as fh:
        fh.truncate(256 * MiB)
        fh.write(sb_bytes)
        fh.seek(LOG_OFFSET)
        fh.write(log_bytes)
    return image_path


def test_superblock_decodes_to_every_expected_field(sb_bytes: bytes) -> None:
    want = EXPECTED["superblock"]
    sb = Superblock.decode(sb_bytes[:SUPERBLOCK_SIZE])
    assert sb.magic == want["magic"]
    assert sb.version == want["version"]
    assert sb.log_offset == want["log_offset"]
    assert sb.log_len == want["log_len"]
    assert sb.alloc_unit == want["alloc_unit"]
    assert [sb.omf_major, sb.omf_minor] == want["omf_version"]
    assert sb.fs_uuid == uuid.UUID(want["fs_uuid"])
    assert sb.dev_uuid == uuid.UUID(want["dev_uuid"])
    assert sb.system_uuid == uuid.UUID(want["system_uuid"])
    assert sb.crc == want["crc"] and want["crc_ok"]
    assert sb.device_size == want["daxdev_size"]
    assert sb.device_name == want["daxdev_name"]


def test_superblock_reencodes_to_the_same_bytes(sb_bytes: bytes) -> None:
    sb = Superblock.decode(sb_bytes[:SUPERBLOCK_SIZE])
    assert sb.encode() == sb_bytes[:SUPERBLOCK_SIZE]


def test_log_header_decodes_to_every_expected_field(log_bytes: bytes) -> None:
    want = EXPECTED["log"]
    head = LogHeader.decode(log_bytes[:LOG_HEADER_SIZE], want["len"])
    assert head.magic == want["magic"]
    assert head.log_len == want["len"]
    assert head.last_index == want["last_index"]
    assert head.crc == want["crc"] and want["crc_ok"]
    assert head.next_seqnum == want["next_seqnum"]
    assert head.next_index == want["next_index"]
    assert head.encode() == log_bytes[:LOG_HEADER_SIZE]


def _slot(log_bytes: bytes, index: int) -> bytes:
    off = LOG_HEADER_SIZE + index * LOG_ENTRY_SIZE
    return log_bytes[off:off + LOG_ENTRY_SIZE]


@pytest.mark.parametrize("want", EXPECTED["entries"], ids=lambda e: f"entry{e['index']}")
def test_log_entry_decodes_to_every_expected_field(log_bytes: bytes, want: dict) -> None:
    entry = decode_entry(_slot(log_bytes, want["index"]), want["index"])
    assert entry.seqnum == want["seqnum"] and want["crc_ok"]
    assert want["type"] == "FILE"
    f = entry.payload
    assert isinstance(f, FileEntry)
    assert f.relpath == want["relpath"]
    assert f.size == want["size"]
    assert f.flags == want["flags"]
    assert (f.uid, f.gid) == (want["uid"], want["gid"])
    assert oct(f.mode) == want["mode"]
    assert f.fmap.ext_type == ExtentType[want["ext_type"]]
    if want["ext_type"] == "SIMPLE":
        got = [{"devindex": e.devindex, "offset": e.offset, "len": e.length}
               for e in f.fmap.extents]
        assert got == want["extents"]
    else:
        il = f.fmap.interleave
        assert il is not None
        got = [{"devindex": e.devindex, "offset": e.offset, "len": e.length} for e in il.strips]
        assert {"nstrips": il.nstrips, "chunk_size": il.chunk_size, "strips": got} \
            == want["interleave"]


@pytest.mark.parametrize("index", range(len(EXPECTED["entries"])))
def test_log_entry_reencodes_to_the_same_bytes(log_bytes: bytes, index: int) -> None:
    raw = _slot(log_bytes, index)
    assert encode_entry(index, decode_entry(raw, index).payload) == raw


def test_unused_log_slots_are_zero(log_bytes: bytes) -> None:
    used = LOG_HEADER_SIZE + len(EXPECTED["entries"]) * LOG_ENTRY_SIZE
    assert log_bytes[used:] == bytes(len(log_bytes) - used)


def test_golden_image_passes_fsck(golden_image: str) -> None:
    report = fsck(golden_image)
    assert report.ok
    assert report.slots_used == 5 and report.slots_free == 15420 - 5
    assert report.files == 5 and report.directories == 0
    assert report.capacity == 256 * MiB
    strips = 1 + 8 + 8 * 2 + 8 + 8
    assert report.allocated == (5 + strips) * 2 * MiB


def test_golden_image_replays_every_file(golden_image: str) -> None:
    with Filesystem(golden_image) as fs:
        names = sorted(n.relpath for n in fs.namespace.walk())
    assert names == sorted(e["relpath"] for e in EXPECTED["entries"])


@pytest.mark.parametrize("index", [0, 3])
def test_shadow_yaml_matches_the_reference_bytes(log_bytes: bytes, index: int) -> None:
    entry = decode_entry(_slot(log_bytes, index), index).payload
    assert isinstance(entry, FileEntry)
    assert file_yaml(entry) == (GOLDEN / f"entry{index}.yaml").read_text()


def test_logplay_shadow_cli_writes_the_reference_yaml(golden_image: str, tmp_path: Path,
                                                      cli) -> None:
    shadow = tmp_path / "shadow"
    proc = cli("logplay", "--shadow", str(shadow), "--daxdev", golden_image, check=True)
    assert proc.stdout.strip() == \
        "famfs_logplay(shadow): 5 log entries; 5 new files; 0 new directories"
    root = shadow / "root"
    assert (root / "non-interleaved-file").read_bytes() == (GOLDEN / "entry0.yaml").read_bytes()
    assert (root / "interleaved-file0").read_bytes() == (GOLDEN / "entry3.yaml").read_bytes()
    parsed = yaml.safe_load((root / "interleaved-file0").read_text())
    assert parsed["file"]["striped_ext_list"][0]["nstrips"] == 8
    again = cli("logplay", "--shadow", str(shadow), "--daxdev", golden_image, check=True)
    assert again.stdout.strip() == \
        "famfs_logplay(shadow): 5 log entries; 0 new files; 0 new directories"


def test_fsck_cli_passes_on_the_golden_image(golden_image: str, cli) -> None:
    proc = cli("fsck", golden_image)
    assert proc.returncode == 0, proc.stderr
    assert "# of log entries in use: 5 of 15420" in proc.stdout
    assert "No allocation errors found" in proc.stdout
