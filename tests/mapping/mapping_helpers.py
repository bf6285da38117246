"""Helpers shared by the mapping tests: golden entries and the test image layout."""

from __future__ import annotations

import gzip
from pathlib import Path

from famfs.alloc import InterleaveParams
from famfs.omf.fmap import FileMap
from famfs.omf.layout import MiB
from famfs.omf.log import FileEntry, decode_entry

GOLDEN = Path(__file__).parents[1] / "data" / "famfs-golden"
IMAGE_SIZE = 256 * MiB
AU = 2 * MiB
INTERLEAVE = InterleaveParams(nbuckets=8, nstrips=4, chunk_size=2 * MiB)


def reference_resolve(fmap: FileMap, pos: int) -> tuple[int, int, int]:
    """(device, device offset, bytes contiguous from there) of file offset `pos`: the address
    math of the format spec, written out as an independent oracle."""
    il = fmap.interleave
    if il is None:
        start = 0
        for ext in fmap.extents:
            if pos < start + ext.length:
                return ext.devindex, ext.offset + pos - start, start + ext.length - pos
            start += ext.length
        raise ValueError(f"offset {pos} is past the map")
    chunk, within = divmod(pos, il.chunk_size)
    stripe, strip = divmod(chunk, il.nstrips)
    s = il.strips[strip]
    return s.devindex, s.offset + stripe * il.chunk_size + within, il.chunk_size - within


def golden_entry(index: int) -> FileEntry:
    """The payload of FILE entry `index` of the golden log."""
    log = gzip.open(GOLDEN / "log.bin.gz").read()
    payload = decode_entry(log[48 + index * 544:48 + (index + 1) * 544], index).payload
    assert isinstance(payload, FileEntry)
    return payload


class BlobTransport:
    """A transport serving fixed GET_FMAP replies and device paths (maps the log cannot hold:
    several devices, extents past a device's end, corrupt replies)."""

    def __init__(self, fmaps: dict[str, bytes], devices: dict[int, str]) -> None:
        from famfs.mapping.wire import encode_get_daxdev

        self.fmaps = fmaps
        self.daxdevs = {i: encode_get_daxdev(i, p) for i, p in devices.items()}

    def get_fmap(self, relpath: str) -> bytes:
        from famfs.errors import NotFoundError

        if relpath not in self.fmaps:
            raise NotFoundError(f"{relpath}: no such file")
        return self.fmaps[relpath]

    def get_daxdev(self, index: int) -> bytes:
        from famfs.mapping.iomap import MappingError

        if index not in self.daxdevs:
            raise MappingError(f"device index {index} is not known")
        return self.daxdevs[index]

    def get_setup(self, relpath: str) -> bytes:
        from famfs.mapping import map_file
        from famfs.mapping.wire import encode_setup_reply

        fmap = self.get_fmap(relpath)
        return encode_setup_reply(fmap, [self.daxdevs[i] for i in sorted(map_file(fmap).devices)])

    def device_indices(self) -> list[int]:
        return sorted(self.daxdevs)


def simple_blob(extents: list[tuple[int, int, int]], size: int) -> bytes:
    """A GET_FMAP reply of (devindex, offset, length) simple extents."""
    from famfs.mapping.wire import FileType, GetFmapReply, WireExtent, encode_fmap_reply
    from famfs.omf.fmap import ExtentType

    return encode_fmap_reply(GetFmapReply(FileType.REG, ExtentType.SIMPLE, size,
                                          extents=tuple(WireExtent(*e) for e in extents)))


def interleave_blob(chunk: int, strips: list[tuple[int, int, int]], size: int) -> bytes:
    """A GET_FMAP reply of one interleaved extent holding `size` bytes."""
    from famfs.mapping.wire import (
        FileType,
        GetFmapReply,
        WireExtent,
        WireInterleave,
        encode_fmap_reply,
    )
    from famfs.omf.fmap import ExtentType

    il = WireInterleave(chunk, size, tuple(WireExtent(*s) for s in strips))
    return encode_fmap_reply(GetFmapReply(FileType.REG, ExtentType.INTERLEAVE, size,
                                          interleaves=(il,)))


FIXTURES = Path(__file__).parents[1] / "fixtures"


def install_dist(project: Path, site: Path) -> str:
    """Install the source-layout package `project` into directory `site` as an installer does:
    its modules, plus a .dist-info with METADATA and entry_points.txt from pyproject.toml.
    Returns the distribution name. `site` must be put on sys.path (or PYTHONPATH)."""
    import shutil
    import tomllib

    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    for module in (project / "src").iterdir():
        if module.is_dir() and not module.name.startswith((".", "__")):
            shutil.copytree(module, site / module.name,
                            ignore=shutil.ignore_patterns("__pycache__"))
    norm = meta["name"].replace("-", "_")
    info = site / f"{norm}-{meta['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\n"
                                   f"Version: {meta['version']}\n")
    lines = []
    for group, entries in meta.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (info / "INSTALLER").write_text("pyfamfs-tests\n")
    return meta["name"]
