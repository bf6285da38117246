"""famfs from Python: list, inspect, make and fill famfs files.

Every function takes a famfs name as the command line does: `DEVICE:PATH` (no mount needed) or
a path inside a famfs mount. The rules are the command line's: only the master host makes
directories and files, the file modes apply (the kernel's answer for a path in a mount, the
logged modes, owners and groups for DEVICE:PATH), and a file is logged only once its bytes are
in place.
"""

from __future__ import annotations

import io
import os
import stat as stat_module
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from famfs.access import FamfsFile, is_meta, served_for
from famfs.access import open as famfs_open
from famfs.errors import AccessError, DeviceError, UsageError
from famfs.fs.namespace import Directory, File, Node
from famfs.fs.target import Target, require_target
from famfs.mapping.protocol import META_DIR
from famfs.permissions import READ, SEARCH, WRITE, check_path, file_type

if TYPE_CHECKING:
    import numpy as np

    from famfs.fs.filesystem import Filesystem


@dataclass(frozen=True)
class Stat:
    """What famfs knows of a name: `st_mode` holds the type and permission bits, `st_size`
    is in bytes (0 for a directory)."""

    path: str
    st_mode: int
    st_size: int
    st_uid: int
    st_gid: int

    def is_dir(self) -> bool:
        return stat_module.S_ISDIR(self.st_mode)

    def is_file(self) -> bool:
        return stat_module.S_ISREG(self.st_mode)


def _target(path: str) -> Target:
    return require_target(os.fspath(path), allow_device=True)


def _node_stat(shown: str, node: Node) -> Stat:
    size = node.size if isinstance(node, File) else 0
    return Stat(shown, file_type(node) | node.mode, size, node.uid, node.gid)


def _os_stat(path: str) -> Stat:
    st = os.stat(path)
    return Stat(path, st.st_mode, st.st_size, st.st_uid, st.st_gid)


def _reader(target: Target) -> Filesystem:
    """The device's filesystem as this process last replayed it, brought up to date."""
    fs = served_for(target).fs
    fs.refresh()
    return fs


def _checked(target: Target, want: int) -> Node:
    return check_path(_reader(target).namespace, target.relpath, want, str(target))


def stat(path: str) -> Stat:
    """The type, size, mode and owner of the famfs file or directory `path`."""
    target = _target(path)
    if target.mountpoint is not None:
        return _os_stat(str(target))
    return _node_stat(str(target), _checked(target, 0))


def _listing(target: Target) -> list[tuple[str, Node]]:
    node = _checked(target, READ)
    if not isinstance(node, Directory):
        from famfs.errors import NotDirectoryError

        raise NotDirectoryError(f"{target}: not a directory")
    return sorted(node.children.items())


def listdir(path: str) -> list[str]:
    """Names in the famfs directory `path`, sorted (a mount's `.meta` is not listed)."""
    target = _target(path)
    if target.mountpoint is not None:
        names = os.listdir(str(target))
        if not target.relpath:
            names = [n for n in names if n != META_DIR]
        return sorted(names)
    return [name for name, _ in _listing(target)]


def scandir(path: str) -> list[Stat]:
    """A Stat of every name in the famfs directory `path`, sorted by name."""
    target = _target(path)
    if target.mountpoint is not None:
        return [_os_stat(os.path.join(str(target), name)) for name in listdir(path)]
    return [_node_stat(str(target.child(name)), child) for name, child in _listing(target)]


def walk(path: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """(directory, subdirectory names, file names) for `path` and every directory below it,
    top down, as os.walk yields them. Directories the caller may not list are skipped."""
    target = _target(path)
    if target.mountpoint is not None:
        for top, dirs, files in os.walk(os.fspath(path)):
            if os.path.realpath(top) == os.path.realpath(target.mountpoint):
                dirs[:] = [d for d in dirs if d != META_DIR]
            yield top, dirs, files
        return
    stack = [target]
    while stack:
        here = stack.pop()
        try:
            entries = _listing(here)
        except AccessError:
            continue
        dirs = [name for name, node in entries if isinstance(node, Directory)]
        files = [name for name, node in entries if not isinstance(node, Directory)]
        yield str(here), dirs, files
        stack.extend(here.child(name) for name in reversed(dirs))


# --- appends (master only) ------------------------------------------------------------------


def umask() -> int:
    """This process's umask, read without changing it where the kernel shows it."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def writer_for(target: Target, what: str) -> Filesystem:
    """The device's filesystem opened for appending, after the role check (RoleError on a
    client) and the device's own permission (AccessError)."""
    from famfs.errors import RoleError
    from famfs.fs.roles import system_uuid

    served = served_for(target)
    fs = served.fs
    if system_uuid() != fs.sb.system_uuid:
        raise RoleError(f"{target}: this host ({system_uuid()}) is a client of the famfs on "
                        f"{target.device}; only its master ({fs.sb.system_uuid}) may {what}")
    if not os.access(target.device, os.R_OK | os.W_OK):
        raise AccessError(f"{target}: permission denied: cannot open device {target.device} "
                          f"for writing")
    try:
        return served.writer()
    except DeviceError as exc:
        raise AccessError(f"{target}: {exc}") from None


def _check_parent(fs: Filesystem, target: Target) -> None:
    """The caller may add entries to the parent directory of `target` (non-root callers)."""
    parent = target.relpath.rsplit("/", 1)[0] if "/" in target.relpath else ""
    shown = str(Target(target.device, parent, target.mountpoint))
    try:
        check_path(fs.namespace, parent, WRITE | SEARCH, shown)
    except FileNotFoundError:
        pass


def mkdir(path: str, mode: int = 0o755, parents: bool = False) -> Stat:
    """Make the famfs directory `path` (with `parents`, missing parents too, and an existing
    directory is fine). Master only. `mode` is reduced by the umask, as mkdir(2) does."""
    target = _target(path)
    if not target.relpath:
        from famfs.errors import ExistsError

        if parents:
            return stat(path)
        raise ExistsError(f"{path}: the filesystem root exists already")
    if is_meta(target.relpath):
        raise UsageError(f"{path}: {META_DIR} is reserved for the filesystem's metadata")
    fs = writer_for(target, "make directories")
    with fs.device.append_lock():
        fs.refresh()
        if os.geteuid() != 0:
            _check_parent(fs, target)
        node = fs.mkdir(target.relpath, parents=parents, mode=mode & ~umask() & 0o7777,
                        uid=os.geteuid(), gid=os.getegid())
    return _node_stat(str(target), node)


def load(path: str, writable: bool = False) -> np.ndarray:
    """The array in the famfs .npy file `path`, as a view of the file's memory: nothing is
    copied. Read-only unless `writable` (the rules of `famfs.open(path, "r+b")` apply). The
    mapping lasts as long as the array (or a view of it)."""
    with famfs_open(path, "r+b" if writable else "rb") as f:
        return f.npy_array()


def npy_header(array: Any) -> bytes:
    """The .npy header (format 1.0, or 2.0 when 1.0 cannot hold it) that np.save writes
    before the data of `array`."""
    import numpy as np

    fmt = np.lib.format
    info = fmt.header_data_from_array_1_0(array)
    buf = io.BytesIO()
    try:
        fmt.write_array_header_1_0(buf, info)
    except ValueError:
        buf = io.BytesIO()
        fmt.write_array_header_2_0(buf, info)
    return buf.getvalue()


def fill_npy(f: FamfsFile, array: Any, header: bytes) -> None:
    """Write `header` then the data of `array` into the writable famfs file `f` in place."""
    import numpy as np

    view = f.view()
    view[:len(header)] = header
    view.release()
    if array.nbytes == 0:
        return
    fortran = array.flags.f_contiguous and not array.flags.c_contiguous
    shape = array.shape[::-1] if fortran else array.shape
    dest = f.array(array.dtype, shape, len(header))
    np.copyto(dest, array.T if fortran else array, casting="no")
    del dest
