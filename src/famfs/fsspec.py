"""famfs as an fsspec filesystem (protocol `famfs`), so pandas, pyarrow and Dask reach famfs
files with no mount. Needs the `fsspec` extra; registered through the `fsspec.specs` entry
point.

URL forms:

- `famfs://PATH` with the storage option `device=DEVICE`: PATH is the path inside the famfs on
  the image file or DAX device DEVICE, e.g. `fsspec.open("famfs://data/t.parquet",
  device="/dev/shm/famfs.img")`. Names in listings are plain paths (`data/t.parquet`).
- `famfs://DEVICE:PATH` with no option, e.g. `famfs:///dev/shm/famfs.img:data/t.parquet`
  (three slashes: the device path is absolute), or `famfs:///mnt/famfs/data/t.parquet` for a
  path inside a mount. Names in listings keep that form.

Reads are served from the file's mapping (no server, no mount). 'wb' makes a new file on the
master: the bytes are gathered in memory until close (a stream does not know its size in
advance, and famfs files have a fixed size), then the file is created, filled and logged; use
`famfs.create` to fill a file in place.
"""

from __future__ import annotations

import io
from typing import Any

from fsspec.spec import AbstractFileSystem

from famfs import api
from famfs.access import FamfsFile
from famfs.access import open as famfs_open
from famfs.errors import UsageError


class FamfsFileSystem(AbstractFileSystem):
    """famfs files through fsspec; `device` names the image or DAX device the paths are in
    (None: every path names its device itself, or lies in a mount)."""

    protocol = "famfs"
    root_marker = ""

    def __init__(self, device: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.device = device

    # --- names ---

    def _target(self, path: str) -> str:
        path = self._strip_protocol(path)
        if self.device is None:
            if not path:
                raise UsageError("famfs:// needs a path: DEVICE:PATH, a path in a mount, or "
                                 "the storage option device=DEVICE")
            return path
        return f"{self.device}:{path.strip('/')}"

    def _name(self, target: str) -> str:
        if self.device is None:
            return target
        return target[len(self.device) + 1:] if target.startswith(self.device + ":") \
            else target

    def _details(self, st: api.Stat) -> dict[str, Any]:
        return {"name": self._name(st.path), "size": st.st_size,
                "type": "directory" if st.is_dir() else "file", "mode": st.st_mode,
                "uid": st.st_uid, "gid": st.st_gid}

    # --- listing ---

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        target = self._target(path)
        st = api.stat(target)
        entries = [self._details(s) for s in api.scandir(target)] if st.is_dir() \
            else [self._details(st)]
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        target = self._target(path)
        info = self._details(api.stat(target))
        info["name"] = self._name(target)
        return info

    # --- reading ---

    def _open(self, path: str, mode: str = "rb", block_size: Any = None,
              autocommit: bool = True, cache_options: Any = None, **kwargs: Any) -> Any:
        target = self._target(path)
        if mode == "rb":
            return famfs_open(target)
        if mode in ("wb", "xb"):
            return NewFileWriter(target)
        raise UsageError(f"{path}: mode {mode!r}: famfs files open as 'rb', or 'wb' to make "
                         f"a new file")

    def cat_file(self, path: str, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:
        with famfs_open(self._target(path)) as f:
            return _slice(f, start, end)

    def cat_ranges(self, paths: list[str], starts: Any, ends: Any, max_gap: Any = None,
                   on_error: str = "return", **kwargs: Any) -> list[Any]:
        if not isinstance(starts, list):
            starts = [starts] * len(paths)
        if not isinstance(ends, list):
            ends = [ends] * len(paths)
        if len(starts) != len(paths) or len(ends) != len(paths):
            raise ValueError("cat_ranges: paths, starts and ends differ in length")
        opened: dict[str, FamfsFile] = {}
        out: list[Any] = []
        try:
            for path, start, end in zip(paths, starts, ends, strict=True):
                try:
                    f = opened.get(path)
                    if f is None:
                        f = opened[path] = famfs_open(self._target(path))
                    out.append(_slice(f, start, end))
                except Exception as exc:
                    if on_error != "return":
                        raise
                    out.append(exc)
        finally:
            for f in opened.values():
                f.close()
        return out

    # --- making ---

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        api.mkdir(self._target(path), parents=create_parents, **kwargs)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        target = self._target(path)
        if not exist_ok and self.exists(path):
            from famfs.errors import ExistsError

            raise ExistsError(f"{target}: exists already")
        api.mkdir(target, parents=True)

    def rm_file(self, path: str) -> None:
        raise UsageError(f"{self._target(path)}: famfs files cannot be removed (the log is "
                         f"append-only)")

    def _rm(self, path: str) -> None:
        self.rm_file(path)


def _slice(f: FamfsFile, start: int | None, end: int | None) -> bytes:
    view = f.view()
    try:
        return bytes(view[slice(start, end)])
    finally:
        view.release()


class NewFileWriter(io.RawIOBase):
    """A new famfs file written as a stream: bytes gather in memory, and closing creates the
    file at their size, fills it and logs it. Leaving a `with` block on an exception (or
    dropping the writer unclosed) logs nothing."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.name = target
        self._buf = io.BytesIO()
        self._done = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed famfs file")
        return self._buf.write(data)

    def tell(self) -> int:
        return self._buf.tell()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._done:
                self._done = True
                self._commit()
        finally:
            super().close()

    def discard(self) -> None:
        """Close without making the file."""
        self._done = True
        self.close()

    def _commit(self) -> None:
        from famfs.producer import create

        data = self._buf.getbuffer()
        if not len(data):
            raise UsageError(f"{self.name}: nothing was written, and a famfs file cannot be "
                             f"empty; nothing was logged")
        try:
            with create(self.name, len(data)) as f:
                view = f.view()
                view[:len(data)] = data
                view.release()
        finally:
            data.release()

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()

    def __del__(self) -> None:
        if not self.closed:
            self._done = True
        super().__del__()
