"""The shadow tree: a log replayed into plain directories and one YAML file per famfs file.

The reference FUSE server keeps its view of a famfs as a "shadow" directory tree: directories
are real directories, and every file is a small YAML document describing its map. The tree
lives under `SHADOW/root` (a shadow path already ending in `/root` is used as is). The YAML text
here is byte-for-byte what the reference's libyaml emitter writes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from famfs.errors import FamfsError
from famfs.fs.namespace import Directory, File, Namespace
from famfs.omf.log import FileEntry

_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_./+=~^$()<>;\\-][\x20-\x7e]*")
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")


def _scalar(text: str) -> str:
    """A YAML scalar as libyaml emits it: plain when the text allows it, otherwise quoted."""
    plain = (
        text != ""
        and _PLAIN_SAFE.fullmatch(text) is not None
        and text[0] not in _INDICATORS.difference("-")
        and not (text[0] == "-" and (len(text) == 1 or text[1] == " "))
        and not text.endswith((" ", ":"))
        and ": " not in text
        and " #" not in text
        and not text.startswith("---")
    )
    if plain:
        return text
    if all(0x20 <= ord(c) < 0x7F for c in text):
        return "'" + text.replace("'", "''") + "'"
    out = []
    for ch in text:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02X}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(f"\\U{code:08X}")
    return '"' + "".join(out) + '"'


def file_yaml(entry: FileEntry) -> str:
    """The shadow YAML document of a FILE log entry (the reference's famfs_emit_file_yaml)."""
    lines = [
        "---",
        "file:",
        f"  path: {_scalar(entry.relpath)}",
        f"  size: {entry.size}",
        f"  flags: {entry.flags}",
        f"  mode: 0{entry.mode:o}",
        f"  uid: {entry.uid}",
        f"  gid: {entry.gid}",
    ]
    fmap = entry.fmap
    if fmap.interleave is None:
        lines.append(f"  nextents: {len(fmap.extents)}")
        lines.append("  simple_ext_list:")
        for ext in fmap.extents:
            lines.append(f"  - devindex: {ext.devindex}")
            lines.append(f"    offset: 0x{ext.offset:x}")
            lines.append(f"    length: 0x{ext.length:x}")
    else:
        il = fmap.interleave
        lines.append("  nextents: 1")
        lines.append("  striped_ext_list:")
        lines.append(f"  - nstrips: {il.nstrips}")
        lines.append(f"    chunk_size: 0x{il.chunk_size:x}")
        lines.append("    simple_ext_list:")
        for ext in il.strips:
            lines.append(f"    - devindex: {ext.devindex}")
            lines.append(f"      offset: 0x{ext.offset:x}")
            lines.append(f"      length: 0x{ext.length:x}")
    lines.append("...")
    return "\n".join(lines) + "\n"


def shadow_root(shadow: str) -> str:
    """The directory that mirrors the famfs root: `shadow/root`, or `shadow` if it ends so."""
    shadow = shadow.rstrip("/") or "/"
    return shadow if shadow.endswith("/root") else os.path.join(shadow, "root")


@dataclass(frozen=True)
class ShadowStats:
    """What a shadow replay did: files and directories created, and ones already present."""

    new_files: int
    new_directories: int
    existing: int


def write_shadow(namespace: Namespace, shadow: str, dry_run: bool = False) -> ShadowStats:
    """Mirror `namespace` into the shadow tree at `shadow` (created if missing).

    Existing YAML files and directories are left alone (replay is idempotent). Something else
    in the way (a directory where a file belongs, or the reverse) is a FamfsError naming it.
    """
    root = shadow_root(shadow)
    new_files = new_dirs = existing = 0
    if not dry_run:
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as exc:
            raise FamfsError(f"{root}: cannot create the shadow root: {exc.strerror}") from None
    for node in namespace.walk():
        path = os.path.join(root, node.relpath)
        if isinstance(node, Directory):
            if os.path.isdir(path):
                existing += 1
                continue
            if os.path.lexists(path):
                raise FamfsError(f"{path}: exists in the shadow tree where directory "
                                 f"{node.relpath} belongs")
            new_dirs += 1
            if not dry_run:
                try:
                    os.mkdir(path, 0o755)
                except OSError as exc:
                    raise FamfsError(f"{path}: cannot create shadow directory: "
                                     f"{exc.strerror}") from None
        elif isinstance(node, File):
            if os.path.isfile(path):
                existing += 1
                continue
            if os.path.lexists(path):
                raise FamfsError(f"{path}: exists in the shadow tree where file "
                                 f"{node.relpath} belongs")
            new_files += 1
            if not dry_run:
                try:
                    with open(path, "x", encoding="utf-8") as fh:
                        fh.write(file_yaml(node.entry))
                except OSError as exc:
                    raise FamfsError(f"{path}: cannot write shadow file: "
                                     f"{exc.strerror}") from None
    return ShadowStats(new_files, new_dirs, existing)
