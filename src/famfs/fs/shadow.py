"""The shadow tree: a log replayed into plain directories and one YAML file per famfs file.

The reference FUSE server keeps its view of a famfs as a "shadow" directory tree: directories
are real directories (with the logged mode, and the logged owner when uid and gid are both
non-zero), and every file is a small YAML document describing its map. The tree lives under
`SHADOW/root` (a shadow path already ending in `/root` is used as is). The YAML text here is
byte-for-byte what the reference's libyaml emitter writes (ASCII output, 80-column folding).

Writing never leaves the shadow directory: every step below it is taken relative to an open
directory descriptor with O_NOFOLLOW, and a shadow tree that holds a symbolic link is refused
before anything is written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import sys
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from famfs.errors import FamfsError
from famfs.fs.namespace import Directory, File, Namespace, Node
from famfs.fs.printable import printable
from famfs.log import MetadataLog
from famfs.omf.layout import MAX_PATH
from famfs.omf.log import EntryType, FileEntry, suspect_records

# --- the libyaml scalar emitter (yaml_emitter_analyze_scalar and the three writers) --------

_BEST_WIDTH = 80
"""libyaml's default line width."""
_VALUE_INDENT = 4
"""Indentation of a folded `file:` value's continuation lines (mapping indent 2, plus 2)."""
_VALUE_COLUMN = 7
"""Column after `  path:`, where the value's writer starts."""
_ESCAPES = {0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f",
            0x0D: "r", 0x1B: "e", 0x22: '"', 0x5C: "\\", 0x85: "N", 0xA0: "_", 0x2028: "L",
            0x2029: "P"}
_BREAKS = "\r\n\x85\u2028\u2029"


def _printable_ascii(ch: str) -> bool:
    """libyaml's IS_PRINTABLE for an emitter without unicode output: LF or 0x20..0x7E."""
    return ch == "\n" or "\x20" <= ch <= "\x7e"


def _blankz(text: str, i: int) -> bool:
    return i >= len(text) or text[i] in " \t" or text[i] in _BREAKS


def _style(text: str) -> str:
    """'plain', 'single' or 'double': the style libyaml picks for a block mapping value."""
    if not text:
        return "single"
    block_ind = text.startswith(("---", "..."))
    special = line_breaks = False
    leading_space = leading_break = trailing_space = trailing_break = False
    break_space = space_break = previous_space = previous_break = False
    preceded_ws = True
    n = len(text)
    for i, ch in enumerate(text):
        followed_ws = _blankz(text, i + 1)
        if i == 0:
            if ch in "#,[]{}&*!|>'\"%@`" or (ch in "?:-" and followed_ws):
                block_ind = True
        elif (ch == ":" and followed_ws) or (ch == "#" and preceded_ws):
            block_ind = True
        if not _printable_ascii(ch):
            special = True
        if ch in _BREAKS:
            line_breaks = True
        if ch == " ":
            leading_space = leading_space or i == 0
            trailing_space = trailing_space or i == n - 1
            break_space = break_space or previous_break
            previous_space, previous_break = True, False
        elif ch in _BREAKS:
            leading_break = leading_break or i == 0
            trailing_break = trailing_break or i == n - 1
            space_break = space_break or previous_space
            previous_space, previous_break = False, True
        else:
            previous_space = previous_break = False
        preceded_ws = _blankz(text, i)
    plain = single = True
    if leading_space or leading_break or trailing_space or trailing_break:
        plain = False
    if break_space:
        plain = single = False
    if space_break or special:
        plain = single = False
    if line_breaks or block_ind:
        plain = False
    if plain:
        return "plain"
    return "single" if single else "double"


class _Writer:
    """Column tracking and indentation as libyaml's emitter does them."""

    def __init__(self, column: int) -> None:
        self.out: list[str] = []
        self.column = column
        self.whitespace = False
        self.indention = False

    def put(self, text: str) -> None:
        self.out.append(text)
        self.column += len(text)

    def put_break(self) -> None:
        self.out.append("\n")
        self.column = 0

    def indicator(self, text: str, need_whitespace: bool) -> None:
        if need_whitespace and not self.whitespace:
            self.put(" ")
        self.put(text)
        self.whitespace = False
        self.indention = False

    def write_indent(self) -> None:
        if not self.indention or self.column > _VALUE_INDENT or (
                self.column == _VALUE_INDENT and not self.whitespace):
            self.put_break()
        while self.column < _VALUE_INDENT:
            self.put(" ")
        self.whitespace = True
        self.indention = True

    def text(self) -> str:
        return "".join(self.out)


def _write_plain(text: str, w: _Writer) -> None:
    w.put(" ")
    spaces = False
    for i, ch in enumerate(text):
        if ch == " ":
            if not spaces and w.column > _BEST_WIDTH and not text[i + 1:i + 2] == " ":
                w.write_indent()
            else:
                w.put(ch)
            spaces = True
        else:
            w.put(ch)
            w.indention = False
            spaces = False
    w.whitespace = False


def _write_single(text: str, w: _Writer) -> None:
    w.indicator("'", True)
    spaces = breaks = False
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch == " ":
            if (not spaces and w.column > _BEST_WIDTH and 0 < i < last
                    and text[i + 1] != " "):
                w.write_indent()
            else:
                w.put(ch)
            spaces = True
        elif ch in _BREAKS:
            if not breaks and ch == "\n":
                w.put_break()
            w.put_break()
            w.indention = True
            breaks = True
        else:
            if breaks:
                w.write_indent()
            if ch == "'":
                w.put("'")
            w.put(ch)
            w.indention = False
            spaces = breaks = False
    if breaks:
        w.write_indent()
    w.indicator("'", False)


def _escape(code: int) -> str:
    if code in _ESCAPES:
        return "\\" + _ESCAPES[code]
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _write_double(text: str, w: _Writer) -> None:
    w.indicator('"', True)
    spaces = False
    last = len(text) - 1
    for i, ch in enumerate(text):
        code = ord(ch)
        if (not _printable_ascii(ch) or code == 0xFEFF or ch in _BREAKS or ch in '"\\'):
            w.put(_escape(code))
            spaces = False
        elif ch == " ":
            if not spaces and w.column > _BEST_WIDTH and 0 < i < last:
                w.write_indent()
                if text[i + 1] == " ":
                    w.put("\\")
            else:
                w.put(ch)
            spaces = True
        else:
            w.put(ch)
            spaces = False
    w.indicator('"', False)


_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./-]*")
"""Texts made only of these characters, not starting with '-', are plain scalars for libyaml
(no indicator, space, break or non-printable character; '...' at the start is checked
apart), and with no space there is nowhere to fold: the value is written as it is."""


def _scalar(text: str) -> str:
    """A `file:` mapping value as libyaml emits it, from just after the `key:` indicator."""
    if _PLAIN_SAFE.fullmatch(text) and not text.startswith("..."):
        return " " + text
    w = _Writer(_VALUE_COLUMN)
    style = _style(text)
    if style == "plain":
        _write_plain(text, w)
    elif style == "single":
        _write_single(text, w)
    else:
        _write_double(text, w)
    return w.text()


def _signed32(value: int) -> int:
    """A u32 as the reference prints it with %d."""
    return value - (1 << 32) if value >= 1 << 31 else value


_ONE_EXTENT = (b"---\nfile:\n  path:%s\n  size: %d\n  flags: %d\n  mode: 0%o\n  uid: %d\n"
               b"  gid: %d\n  nextents: 1\n  simple_ext_list:\n  - devindex: %d\n"
               b"    offset: 0x%x\n    length: 0x%x\n...\n")
"""file_yaml of a file whose map is one simple extent: the path value as `_scalar` writes
it, size, flags, mode, uid and gid (signed), then the extent's devindex, offset and length."""


def _one_extent_yaml(relpath: str, size: int, flags: int, mode: int, uid: int, gid: int,
                     devindex: int, offset: int, length: int) -> str:
    """file_yaml of a file whose map is one simple extent."""
    return (_ONE_EXTENT % (_scalar(relpath).encode("ascii"), size, flags, mode, _signed32(uid),
                           _signed32(gid), devindex, offset, length)).decode("ascii")


def file_yaml(entry: FileEntry) -> str:
    """The shadow YAML document of a FILE log entry (the reference's famfs_emit_file_yaml)."""
    fmap = entry.fmap
    if fmap.interleave is None and len(fmap.extents) == 1:
        ext = fmap.extents[0]
        return _one_extent_yaml(entry.relpath, entry.size, entry.flags, entry.mode, entry.uid,
                                entry.gid, ext.devindex, ext.offset, ext.length)
    lines = [
        "---",
        "file:",
        f"  path:{_scalar(entry.relpath)}",
        f"  size: {entry.size}",
        f"  flags: {entry.flags}",
        f"  mode: 0{entry.mode:o}",
        f"  uid: {_signed32(entry.uid)}",
        f"  gid: {_signed32(entry.gid)}",
    ]
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


# --- writing the tree ---------------------------------------------------------------------


def shadow_root(shadow: str) -> str:
    """The directory that mirrors the famfs root: `shadow/root`, or `shadow` if it ends so."""
    shadow = shadow.rstrip("/") or "/"
    return shadow if shadow.endswith("/root") else os.path.join(shadow, "root")


@dataclass
class ShadowStats:
    """What a shadow replay did: files and directories created, ones already present, and the
    entries it could not apply (each a message naming the entry)."""

    new_files: int = 0
    new_directories: int = 0
    existing_files: int = 0
    existing_directories: int = 0
    file_errors: int = 0
    dir_errors: int = 0
    errors: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    """The famfs paths of the YAML files written by this replay."""

    @property
    def existing(self) -> int:
        return self.existing_files + self.existing_directories

    def add(self, other: ShadowStats) -> None:
        """Count what `other` counted too (its messages and paths after these)."""
        self.new_files += other.new_files
        self.new_directories += other.new_directories
        self.existing_files += other.existing_files
        self.existing_directories += other.existing_directories
        self.file_errors += other.file_errors
        self.dir_errors += other.dir_errors
        self.errors += other.errors
        self.written += other.written


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FD_CACHE = 64
"""Directory descriptors kept open at once while writing a tree."""


class _SymlinkError(FamfsError):
    """A symbolic link inside the shadow tree."""


def _symlink_error(where: str) -> _SymlinkError:
    return _SymlinkError(f"{printable(where)}: is a symbolic link inside the shadow tree; "
                         f"refusing to write through it (remove it, or use a fresh shadow "
                         f"directory)")


def _kind(name: str, parent_fd: int) -> int | None:
    """The lstat file type of `name` under `parent_fd`, or None if it does not exist."""
    try:
        return stat.S_IFMT(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FamfsError(f"{printable(name)}: cannot look at it in the shadow tree: "
                         f"{exc.strerror}") from None


def _open_dir(name: str, parent_fd: int, shown: str) -> int:
    """Open directory `name` under `parent_fd` without following a symbolic link."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _kind(name, parent_fd) == stat.S_IFLNK:
            raise _symlink_error(shown) from None
        raise


def _find_symlink(dir_fd: int, shown: str) -> str | None:
    """The first symbolic link in the tree below `dir_fd`, or None."""
    with os.scandir(dir_fd) as it:
        entries = list(it)
    for entry in entries:
        path = os.path.join(shown, entry.name)
        if entry.is_symlink():
            return path
        if entry.is_dir(follow_symlinks=False):
            fd = _open_dir(entry.name, dir_fd, path)
            try:
                found = _find_symlink(fd, path)
            finally:
                os.close(fd)
            if found is not None:
                return found
    return None


def _open_shadow_root(shadow: str, create: bool) -> int | None:
    """An O_NOFOLLOW descriptor of the shadow root. The shadow directory (the root's parent)
    is made if missing and `create`, but only if its own parent exists. None when the root is
    missing and not to be made (a dry run)."""
    root = shadow_root(shadow)
    base, leaf = os.path.split(root)
    if not os.path.isdir(base):
        if os.path.lexists(base):
            raise FamfsError(f"{base}: exists and is not a directory; a shadow tree needs a "
                             f"directory")
        parent = os.path.dirname(base.rstrip("/")) or "."
        if not os.path.isdir(parent):
            raise FamfsError(f"{base}: cannot make the shadow directory: its parent {parent} "
                             f"does not exist")
        if not create:
            return None
        try:
            os.mkdir(base, 0o755)
        except OSError as exc:
            raise FamfsError(f"{base}: cannot make the shadow directory: "
                             f"{exc.strerror}") from None
    try:
        base_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise FamfsError(f"{base}: cannot open the shadow directory: {exc.strerror}") from None
    try:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(leaf, 0o755, dir_fd=base_fd)
        return _open_dir(leaf, base_fd, root)
    except FileNotFoundError:
        return None
    except _SymlinkError:
        raise
    except OSError as exc:
        raise FamfsError(f"{root}: cannot make or open the shadow root: "
                         f"{exc.strerror}") from None
    finally:
        os.close(base_fd)


class _Tree:
    """The shadow tree, walked only through directory descriptors opened with O_NOFOLLOW.

    `fd(relpath)` opens the directory of famfs path `relpath` ('' is the root) component by
    component from the root descriptor, keeping a few open. A directory that is not there (in
    a dry run) or that could not be made is `missing`: its descriptor is None.
    """

    def __init__(self, root_fd: int | None, root: str) -> None:
        self.root = root
        self.root_fd = root_fd
        self.cache: dict[str, int] = {}
        self.missing: set[str] = set() if root_fd is not None else {""}

    def shown(self, relpath: str) -> str:
        return os.path.join(self.root, relpath)

    def fd(self, relpath: str) -> int | None:
        if relpath == "":
            return self.root_fd
        if relpath in self.cache:
            return self.cache[relpath]
        parent_rel, _, name = relpath.rpartition("/")
        if relpath in self.missing or parent_rel in self.missing:
            return None
        parent = self.fd(parent_rel)
        if parent is None:
            return None
        fd = _open_dir(name, parent, self.shown(relpath))
        if len(self.cache) >= _FD_CACHE:
            victim = next(iter(self.cache))
            os.close(self.cache.pop(victim))
        self.cache[relpath] = fd
        return fd

    def is_missing(self, relpath: str) -> bool:
        while True:
            if relpath in self.missing:
                return True
            if not relpath:
                return False
            relpath = relpath.rpartition("/")[0]

    def close(self) -> None:
        for fd in self.cache.values():
            os.close(fd)
        self.cache.clear()
        if self.root_fd is not None:
            os.close(self.root_fd)
            self.root_fd = None




def _parent_of(node: Node) -> str:
    return node.relpath.rpartition("/")[0]


def _apply_dir(node: Directory, tree: _Tree, stats: ShadowStats, dry_run: bool,
               made: list[Directory]) -> None:
    shown = tree.shown(node.relpath)
    if tree.is_missing(_parent_of(node)):
        stats.new_directories += 1
        tree.missing.add(node.relpath)
        return
    parent = tree.fd(_parent_of(node))
    assert parent is not None
    kind = _kind(node.name, parent)
    if kind == stat.S_IFLNK:
        raise _symlink_error(shown)
    if kind == stat.S_IFDIR:
        stats.existing_directories += 1
        return
    if kind is not None:
        stats.dir_errors += 1
        stats.errors.append(f"log entry {node.index}: {printable(shown)}: something else is in "
                            f"the shadow tree where directory {printable(node.relpath)} "
                            f"belongs")
        tree.missing.add(node.relpath)
        return
    stats.new_directories += 1
    if dry_run:
        tree.missing.add(node.relpath)
        return
    try:
        os.mkdir(node.name, 0o700, dir_fd=parent)
    except OSError as exc:
        raise FamfsError(f"{printable(shown)}: cannot make shadow directory: "
                         f"{exc.strerror}") from None
    made.append(node)


_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DOCUMENTS = 4096
"""Nodes of the walk whose YAML documents are made at once (their entries read and checked in
bulk)."""


def _existing_file(name: str, parent: int, relpath: str, index: int, tree: _Tree,
                   stats: ShadowStats) -> bool:
    """Account for what is at `name` already (False: nothing is): a YAML file left by an
    earlier replay, or something else (an error); a symbolic link is refused."""
    kind = _kind(name, parent)
    if kind is None:
        return False
    shown = tree.shown(relpath)
    if kind == stat.S_IFLNK:
        raise _symlink_error(shown)
    if kind == stat.S_IFREG:
        stats.existing_files += 1
        return True
    stats.file_errors += 1
    what = "a directory" if kind == stat.S_IFDIR else "something else"
    stats.errors.append(f"log entry {index}: {printable(shown)}: {what} is in the "
                        f"shadow tree where file {printable(relpath)} belongs")
    return True


def _missing_parent(relpath: str, index: int, stats: ShadowStats, dry_run: bool) -> None:
    """Account for FILE entry `index` at `relpath`, whose directory is not in the tree."""
    if dry_run:
        stats.new_files += 1
    else:
        stats.file_errors += 1
        stats.errors.append(f"log entry {index}: {printable(relpath)}: its "
                            f"directory is not in the shadow tree")


class _FileRun(NamedTuple):
    """Documents [start, stop) of a window: files of one directory, accounted in `stats`."""

    start: int
    stop: int
    stats: ShadowStats


def _put_files(documents: _Documents, tree: _Tree, run: _FileRun, dry_run: bool) -> None:
    """Write the files of `run` (in a dry run: only count them), here."""
    parent = _run_parent(documents, tree, run, dry_run)
    if parent is not None:
        _write_files(documents, parent, tree, run, dry_run)


def _run_parent(documents: _Documents, tree: _Tree, run: _FileRun, dry_run: bool
                ) -> int | None:
    """The descriptor of the directory of `run`'s files (the tree's: valid until the tree's
    next `fd`), or None when it is not in the tree (the run's files are accounted so)."""
    parent_rel = documents.relpaths[run.start].rpartition("/")[0]
    if tree.is_missing(parent_rel):
        for k in range(run.start, run.stop):
            _missing_parent(documents.relpaths[k], documents.indices[k], run.stats, dry_run)
        return None
    parent = tree.fd(parent_rel)
    assert parent is not None
    return parent


def _write_files(documents: _Documents, parent: int, tree: _Tree, run: _FileRun,
                 dry_run: bool) -> None:
    """Write the files of `run` under directory descriptor `parent`. Each file is made with
    O_CREAT | O_EXCL | O_NOFOLLOW; only when something is in the way is it looked at. Uses
    `tree` only for the names it shows: safe on several threads at once, each with runs of
    its own."""
    relpaths, indices, texts = documents.relpaths, documents.indices, documents.texts
    start, stop, stats = run
    if texts is None:
        for k in range(start, stop):
            relpath = relpaths[k]
            if not _existing_file(relpath.rpartition("/")[2], parent, relpath, indices[k], tree,
                                  stats):
                stats.new_files += 1
        return
    written = stats.written
    made = 0
    open_, write, close, flags = os.open, os.write, os.close, _FILE_FLAGS
    for k in range(start, stop):
        relpath = relpaths[k]
        name = relpath.rpartition("/")[2]
        try:
            fd = open_(name, flags, 0o644, dir_fd=parent)
        except OSError:
            # Something is in the way (EEXIST), or the name cannot be made: look at it as the
            # dry run does, then try once more (which names the error, if any).
            if _existing_file(name, parent, relpath, indices[k], tree, stats):
                continue
            fd = _create(name, parent, relpath, tree)
        made += 1
        try:
            text = texts[k]
            done = write(fd, text)
            while done < len(text):
                done += write(fd, memoryview(text)[done:])
        finally:
            close(fd)
        written.append(relpath)
    stats.new_files += made


WRITERS = 2
"""Threads that make the shadow files of a window: the system calls that make a file release
the GIL, so each thread makes files on a core of its own."""
_PARALLEL_FILES = 256
"""Fewest files in a window for which the writer threads are used."""


def _put_runs(documents: _Documents, tree: _Tree, runs: list[_FileRun], dry_run: bool,
              pool: ThreadPoolExecutor) -> None:
    """Write the files of `runs` on the WRITERS threads of `pool`, at most _FD_CACHE
    directories at a time: each thread takes a share of the runs (by files), with its own
    duplicate of each directory's descriptor, resolved here, so that the tree's descriptor
    cache is used by this thread alone. The first failure (in run order) is raised once
    every thread has finished."""
    for lo in range(0, len(runs), _FD_CACHE):
        chunk = runs[lo:lo + _FD_CACHE]
        total = sum(run.stop - run.start for run in chunk)
        shares: list[list[tuple[_FileRun, int]]] = [[] for _ in range(WRITERS)]
        dups: list[int] = []
        futures: list[Future[None]] = []
        try:
            done = 0
            for run in chunk:
                parent = _run_parent(documents, tree, run, dry_run)
                if parent is None:
                    continue
                dups.append(os.dup(parent))
                shares[min(done * WRITERS // total, WRITERS - 1)].append((run, dups[-1]))
                done += run.stop - run.start
            futures += [pool.submit(_write_share, documents, tree, share, dry_run)
                        for share in shares if share]
            wait(futures)
        except BaseException:
            # Interrupted (KeyboardInterrupt): no descriptor is closed while a thread may
            # still use it.
            for future in futures:
                future.cancel()
            wait(futures)
            raise
        finally:
            for fd in dups:
                os.close(fd)
        for future in futures:
            future.result()


def _write_share(documents: _Documents, tree: _Tree, share: list[tuple[_FileRun, int]],
                 dry_run: bool) -> None:
    for run, parent in share:
        _write_files(documents, parent, tree, run, dry_run)


def _create(name: str, parent: int, relpath: str, tree: _Tree) -> int:
    try:
        return os.open(name, _FILE_FLAGS, 0o644, dir_fd=parent)
    except OSError as exc:
        raise FamfsError(f"{printable(tree.shown(relpath))}: cannot write shadow file: "
                         f"{exc.strerror}") from None


@dataclass
class _Documents:
    """Path, log index and YAML document (ASCII; None in a dry run) of file nodes."""

    relpaths: list[str]
    indices: list[int]
    texts: list[bytes] | None


_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
"""What os.fsdecode uses (file-name bytes to a str path)."""
_PLAIN_BYTES = np.zeros(256, dtype=bool)
_PLAIN_BYTES[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-\0")] = True
"""Bytes of a relpath (NUL padding included) that keep it a plain scalar: see _PLAIN_SAFE."""


def _documents(namespace: Namespace, nids: np.ndarray, with_text: bool) -> _Documents:
    """The documents of file nodes `nids`. Without `with_text` (a dry run) no entry is read
    and there is no document. With a log as the namespace's source, the entries are read and
    checked in bulk (the checks decode_entry makes); an entry they cannot pass, or whose map
    is not one simple extent, is decoded on its own, which raises what decode_entry raises."""
    if not with_text:
        return _Documents([namespace.path_of(nid) for nid in nids.tolist()],
                          namespace.entries_of(nids).tolist(), None)
    relpaths: list[str] = []
    texts: list[bytes] = []
    log = namespace.source
    if not isinstance(log, MetadataLog):
        indices: list[int] = []
        for nid in nids.tolist():
            node = namespace.node(nid)
            assert isinstance(node, File) and node.index is not None
            relpaths.append(node.relpath)
            indices.append(node.index)
            texts.append(file_yaml(node.entry).encode("ascii"))
        return _Documents(relpaths, indices, texts)
    slots = namespace.entries_of(nids)
    rec = log.records(slots)
    count = len(rec)
    slow = np.zeros(count, dtype=bool)
    slow[suspect_records(rec, slots)] = True
    slow |= (rec["type"] != EntryType.FILE) | (rec["nextents"] != 1)
    raw = rec["f_relpath"]
    # Records that pass have no '.' in their path and only NULs after it (suspect_records).
    plain = _PLAIN_BYTES[raw].all(axis=1) & (raw[:, 0] != ord("-"))
    uids, gids = rec["f_uid"].astype(np.int64), rec["f_gid"].astype(np.int64)
    uids -= (uids >> 31) << 32
    gids -= (gids >> 31) << 32
    raws = raw.copy().view(f"S{MAX_PATH}").ravel().tolist()
    # The path value of a plain path: a space, then the path.
    spaced = np.zeros((count, MAX_PATH + 1), dtype=np.uint8)
    spaced[:, 0] = 0x20
    spaced[:, 1:] = raw
    values = spaced.view(f"S{MAX_PATH + 1}").ravel().tolist()
    relpaths = [name.decode(_FS_ENCODING, _FS_ERRORS) for name in raws]
    fields = [rec["f_size"].tolist(), rec["f_flags"].tolist(), rec["f_mode"].tolist(),
              uids.tolist(), gids.tolist(), rec["se"][:, 0, 0].tolist(),
              rec["se"][:, 0, 1].tolist(), rec["se"][:, 0, 2].tolist()]
    texts = list(map(_ONE_EXTENT.__mod__, zip(values, *fields, strict=True)))
    indices = slots.tolist()
    for k in np.flatnonzero(slow | ~plain).tolist():
        if slow[k]:
            entry = log.file_entry(indices[k])
            relpaths[k] = entry.relpath
            texts[k] = file_yaml(entry).encode("ascii")
        else:
            value = _scalar(relpaths[k]).encode("ascii")
            texts[k] = _ONE_EXTENT % (value, *(column[k] for column in fields))
    return _Documents(relpaths, indices, texts)


def _finish_dirs(made: list[Directory], tree: _Tree) -> None:
    """Give each new directory its logged mode (children first: a mode without write
    permission must not stop its children being made) and, when uid and gid are both
    non-zero, its logged owner, as the reference does (best effort when not root)."""
    for node in reversed(made):
        fd = tree.fd(node.relpath)
        assert fd is not None
        if node.uid and node.gid:
            with contextlib.suppress(PermissionError):
                os.fchown(fd, node.uid, node.gid)
        os.fchmod(fd, node.mode & 0o7777)


def write_shadow(namespace: Namespace, shadow: str, dry_run: bool = False) -> ShadowStats:
    """Mirror `namespace` into the shadow tree at `shadow`, made if missing (its parent must
    exist).

    Existing YAML files and directories are left alone (replay is idempotent). Something else
    in the way (a directory where a file belongs, or the reverse), and a log entry the
    namespace could not apply, are counted as errors with a message naming the entry; the
    rest is still written. A symbolic link inside the tree is a FamfsError raised before
    anything is written.
    """
    root = shadow_root(shadow)
    root_fd = _open_shadow_root(shadow, create=not dry_run)
    stats = ShadowStats()
    for conflict in namespace.conflicts:
        stats.file_errors += 1
        stats.errors.append(f"log entry {conflict.index}: {printable(conflict.relpath)}: "
                            f"{conflict.reason}")
    tree = _Tree(root_fd, root)
    made: list[Directory] = []
    pool: ThreadPoolExecutor | None = None
    try:
        if root_fd is not None:
            link = _find_symlink(root_fd, root)
            if link is not None:
                raise _symlink_error(link)
        ids, dirs, parents = namespace.walk_ids()
        for lo in range(0, len(ids), _DOCUMENTS):
            window, is_dir = ids[lo:lo + _DOCUMENTS], dirs[lo:lo + _DOCUMENTS]
            documents = _documents(namespace, window[~is_dir], not dry_run)
            # In walk order: each directory alone, each run of consecutive files of one
            # directory at once.
            key = np.where(is_dir, -1 - np.arange(len(window)), parents[lo:lo + _DOCUMENTS])
            starts = np.flatnonzero(np.diff(key, prepend=key[0] - 1))
            docs_before = np.cumsum(~is_dir) - ~is_dir
            stops = np.append(starts[1:], len(window))
            # The window's directories are made first (in walk order: parents first), then
            # its files; what each did is counted apart and added up in walk order.
            parts: list[ShadowStats] = []
            runs: list[_FileRun] = []
            for start, stop, first, nid, one_dir in zip(
                    starts.tolist(), stops.tolist(), docs_before[starts].tolist(),
                    window[starts].tolist(), is_dir[starts].tolist(), strict=True):
                part = ShadowStats()
                parts.append(part)
                if one_dir:
                    node = namespace.node(nid)
                    assert isinstance(node, Directory)
                    _apply_dir(node, tree, part, dry_run, made)
                else:
                    runs.append(_FileRun(first, first + stop - start, part))
            if len(documents.relpaths) >= _PARALLEL_FILES:
                if pool is None:
                    pool = ThreadPoolExecutor(max_workers=WRITERS,
                                              thread_name_prefix="famfs-shadow")
                _put_runs(documents, tree, runs, dry_run, pool)
            else:
                for run in runs:
                    _put_files(documents, tree, run, dry_run)
            for part in parts:
                stats.add(part)
        _finish_dirs(made, tree)
    finally:
        if pool is not None:
            pool.shutdown()
        tree.close()
    return stats


def check_shadow(namespace: Namespace, shadow: str, only: list[str] | None = None) -> None:
    """Read shadow YAML files back and compare each with its log entry (the reference's shadow
    test): every file, or those in `only` (the ones a replay just wrote). FamfsError naming the
    first file that does not match."""
    import yaml

    root = shadow_root(shadow)
    wanted = None if only is None else set(only)
    for node in namespace.walk():
        if not isinstance(node, File) or (wanted is not None and node.relpath not in wanted):
            continue
        path = os.path.join(root, node.relpath)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, encoding="ascii") as fh:
                doc = yaml.load(fh.read(), Loader=yaml.BaseLoader)["file"]
        except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError) as exc:
            raise FamfsError(f"{printable(path)}: shadow file does not read back: "
                             f"{exc}") from None
        entry = node.entry
        want = _shadow_fields(entry)
        try:
            got = (doc["path"], int(doc["size"]), int(doc["mode"], 8), int(doc["uid"]),
                   int(doc["gid"]), _extents_of(doc))
        except (KeyError, ValueError, TypeError) as exc:
            raise FamfsError(f"{printable(path)}: shadow file field missing or bad: "
                             f"{exc}") from None
        if got != want:
            raise FamfsError(f"{printable(path)}: shadow file does not match log entry "
                             f"{node.index}")


def _shadow_fields(entry: FileEntry) -> tuple[object, ...]:
    fmap = entry.fmap
    exts = fmap.extents if fmap.interleave is None else fmap.interleave.strips
    return (entry.relpath, entry.size, entry.mode, _signed32(entry.uid), _signed32(entry.gid),
            tuple((e.offset, e.length) for e in exts))


def _extents_of(doc: dict) -> tuple[tuple[int, int], ...]:  # type: ignore[type-arg]
    if "striped_ext_list" in doc:
        exts = doc["striped_ext_list"][0]["simple_ext_list"]
    else:
        exts = doc["simple_ext_list"]
    return tuple((int(e["offset"], 16), int(e["length"], 16)) for e in exts)
