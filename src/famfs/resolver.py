"""Finding the devices of a famfs on this host: device UUID to local path.

The log names a filesystem's devices by UUID (ADD_DAXDEV entries), because paths differ from
host to host: `/dev/dax0.0` here may be `/dev/dax1.2` there, and an image file may live under
another directory. The resolver reads the superblock at the start of candidate paths and
matches its filesystem UUID and device UUID. It is a narrow lookup, not a format prober: only
famfs superblocks are read, only of the candidates below.

Candidates, in this order:

- `FAMFS_DAXDEV_PATH`: a colon-separated list. Each item is an image file or DAX device, a
  directory (every regular file and character device directly inside it), or a glob pattern.
- the config file `FAMFS_DAXDEV_CONFIG` (default `/etc/famfs/daxdevs.conf`): the same items,
  one per line; blank lines and lines starting with `#` are ignored.
- every DAX device, `/dev/dax*`.

What was found is kept in a host-local cache, never on a device: `<state>/<fs_uuid>/
daxdev_map.yaml`, where `<state>` is `FAMFS_STATE_DIR`, or by default `/var/lib/famfs` (and,
for a user who cannot write there, `$XDG_CACHE_HOME/famfs` or `~/.cache/famfs`); a YAML list of
`{fs_uuid, dev_uuid, devname, last_seen_at}` records. The cache is only a shortcut: a hit is
trusted only after the path is checked again (it still exists and its superblock still carries
both UUIDs); a stale record is dropped and the candidates are scanned. A cache that cannot be
read or written is ignored. Two different devices that claim the same UUID are refused.
"""

from __future__ import annotations

import contextlib
import glob
import os
import stat
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from famfs.errors import CorruptError, FamfsError, MissingDeviceError, UsageError
from famfs.omf.superblock import SECONDARY_SIZE, MemberSuperblock, Superblock, decode_member

PATH_ENV = "FAMFS_DAXDEV_PATH"
CONFIG_ENV = "FAMFS_DAXDEV_CONFIG"
DEFAULT_CONFIG = "/etc/famfs/daxdevs.conf"
STATE_ENV = "FAMFS_STATE_DIR"
DEFAULT_STATE_DIR = "/var/lib/famfs"
CACHE_NAME = "daxdev_map.yaml"
DAX_GLOB = "/dev/dax*"
STALE_AFTER_S = 7 * 24 * 3600.0
"""A cached record not seen by a rescan for this long is dropped at the next refresh."""


@dataclass(frozen=True)
class Found:
    """Device `dev_uuid` of filesystem `fs_uuid` is at `path` on this host (`primary`: it holds
    the log). `last_seen_at` is when it was last checked (seconds since the epoch)."""

    fs_uuid: uuid.UUID
    dev_uuid: uuid.UUID
    path: str
    primary: bool = False
    last_seen_at: float = 0.0


def state_dirs() -> list[str]:
    """The host-local directories of resolver caches, in the order they are used: the one
    FAMFS_STATE_DIR names, or the system's and then this user's."""
    forced = os.environ.get(STATE_ENV)
    if forced:
        return [forced]
    dirs = [DEFAULT_STATE_DIR]
    base = os.environ.get("XDG_CACHE_HOME") or (
        os.path.join(os.environ["HOME"], ".cache") if os.environ.get("HOME") else None)
    if base:
        dirs.append(os.path.join(base, "famfs"))
    return dirs


def _is_device_file(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode)


def _expand(item: str) -> list[str]:
    item = item.strip()
    if not item:
        return []
    if any(c in item for c in "*?["):
        return sorted(glob.glob(item))
    if os.path.isdir(item):
        try:
            names = sorted(os.listdir(item))
        except OSError:
            return []
        return [os.path.join(item, n) for n in names]
    return [item]


def configured_items() -> list[str]:
    """The candidate items of FAMFS_DAXDEV_PATH and the config file, in order."""
    items = [p for p in os.environ.get(PATH_ENV, "").split(":") if p]
    config = os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG
    try:
        with open(config) as fh:
            for line in fh:
                line = line.strip()
                if line and not line.startswith("#"):
                    items.append(line)
    except OSError:
        pass
    return items


def candidates() -> list[str]:
    """Every candidate path (absolute), each once, in the documented order."""
    out: list[str] = []
    seen: set[str] = set()
    for item in [*configured_items(), DAX_GLOB]:
        for path in _expand(item):
            path = os.path.abspath(path)
            if path not in seen and _is_device_file(path):
                seen.add(path)
                out.append(path)
    return out


def read_member(path: str) -> MemberSuperblock | None:
    """The famfs superblock (primary or secondary) at the start of `path`, or None if it
    cannot be read or holds none. Reads with pread: no mapping, nothing written."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        head = os.pread(fd, SECONDARY_SIZE, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        return decode_member(head)
    except CorruptError:
        return None


def _identity(path: str) -> tuple[int, int, int] | None:
    """What makes two paths the same device: (st_dev, st_ino, st_rdev)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_rdev if stat.S_ISCHR(st.st_mode) else 0


def _matches(path: str, fs_uuid: uuid.UUID, dev_uuid: uuid.UUID) -> MemberSuperblock | None:
    sb = read_member(path)
    if sb is None or sb.fs_uuid != fs_uuid or sb.dev_uuid != dev_uuid:
        return None
    return sb


class Resolver:
    """Device UUID to local path, for the devices of filesystem `fs_uuid` (see the module
    docstring for the candidates and the cache)."""

    def __init__(self, fs_uuid: uuid.UUID) -> None:
        self.fs_uuid = fs_uuid

    def cache_paths(self) -> list[str]:
        """Where this filesystem's cache file may be (see state_dirs)."""
        return [os.path.join(d, str(self.fs_uuid), CACHE_NAME) for d in state_dirs()]

    @property
    def cache_path(self) -> str:
        """The cache file this host uses (the first that exists, else the first)."""
        paths = self.cache_paths()
        return next((p for p in paths if os.path.exists(p)), paths[0])

    # --- the cache ----------------------------------------------------------------------

    def cached(self) -> list[Found]:
        """The records of the cache files as they are (unchecked; a device found in two, as
        the first says); [] if none can be read."""
        out: list[Found] = []
        seen: set[uuid.UUID] = set()
        for path in self.cache_paths():
            for rec in self._read(path):
                if rec.dev_uuid not in seen:
                    seen.add(rec.dev_uuid)
                    out.append(rec)
        return out

    def _read(self, path: str) -> list[Found]:
        import yaml

        try:
            with open(path) as fh:
                data = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError):
            return []
        out = []
        for row in data if isinstance(data, list) else []:
            try:
                rec = Found(uuid.UUID(str(row["fs_uuid"])), uuid.UUID(str(row["dev_uuid"])),
                            str(row["devname"]), bool(row.get("primary", False)),
                            float(row.get("last_seen_at", 0.0)))
            except (KeyError, TypeError, ValueError):
                continue
            if rec.fs_uuid == self.fs_uuid:
                out.append(rec)
        return out

    def _write(self, records: Iterable[Found]) -> None:
        """Replace the cache file (atomically: a temporary file renamed into place) in the
        first cache directory that can be written; the others are emptied of this filesystem.
        A cache that cannot be written is left alone: it is only a shortcut."""
        rows = [{"fs_uuid": str(r.fs_uuid), "dev_uuid": str(r.dev_uuid), "devname": r.path,
                 "primary": r.primary, "last_seen_at": round(r.last_seen_at, 3)}
                for r in sorted(records, key=lambda r: (not r.primary, str(r.dev_uuid)))]
        paths = self.cache_paths()
        for i, path in enumerate(paths):
            if self._write_one(path, rows):
                for other in paths[:i] + paths[i + 1:]:
                    with contextlib.suppress(OSError):
                        os.unlink(other)
                return

    @staticmethod
    def _write_one(path: str, rows: list[dict[str, object]]) -> bool:
        import yaml

        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".daxdev_map.")
        except OSError:
            return False
        try:
            with os.fdopen(fd, "w") as fh:
                yaml.safe_dump(rows, fh, sort_keys=False)
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return False
        return True

    def remember(self, dev_uuid: uuid.UUID, path: str, primary: bool = False) -> None:
        """Record that `dev_uuid` is at `path` (after checking that it is)."""
        path = os.path.abspath(path)
        sb = _matches(path, self.fs_uuid, dev_uuid)
        if sb is None:
            raise UsageError(f"{path}: does not hold device {dev_uuid} of famfs {self.fs_uuid}")
        keep = [r for r in self.cached() if r.dev_uuid != dev_uuid]
        self._write([*keep, Found(self.fs_uuid, dev_uuid, path, primary, time.time())])

    def forget(self, dev_uuid: uuid.UUID) -> None:
        """Drop the record of `dev_uuid` (its superblock is gone); an emptied cache directory
        is removed."""
        records = self.cached()
        keep = [r for r in records if r.dev_uuid != dev_uuid]
        if len(keep) == len(records):
            return
        if keep:
            self._write(keep)
            return
        for path in self.cache_paths():
            with contextlib.suppress(OSError):
                os.unlink(path)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(path))

    # --- lookups ------------------------------------------------------------------------

    def scan(self) -> list[Found]:
        """Every candidate that holds a device of this filesystem (nothing is cached).
        FamfsError if two different devices claim the same device UUID."""
        now = time.time()
        found: dict[uuid.UUID, tuple[Found, tuple[int, int, int] | None]] = {}
        for path in candidates():
            sb = read_member(path)
            if sb is None or sb.fs_uuid != self.fs_uuid:
                continue
            ident = _identity(path)
            have = found.get(sb.dev_uuid)
            if have is not None:
                if have[1] != ident:
                    raise FamfsError(f"device UUID {sb.dev_uuid} of famfs {self.fs_uuid} is on "
                                     f"two different devices, {have[0].path} and {path}; "
                                     f"refusing to choose")
                continue
            primary = isinstance(sb, Superblock)
            found[sb.dev_uuid] = (Found(self.fs_uuid, sb.dev_uuid, path, primary, now), ident)
        return [rec for rec, _ in found.values()]

    def refresh(self) -> list[Found]:
        """Scan the candidates and rewrite the cache: what was found now, and older records
        that still check out and were seen within STALE_AFTER_S."""
        found = self.scan()
        seen = {r.dev_uuid for r in found}
        now = time.time()
        kept = [r for r in self.cached() if r.dev_uuid not in seen
                and now - r.last_seen_at < STALE_AFTER_S
                and _matches(r.path, self.fs_uuid, r.dev_uuid) is not None]
        self._write([*found, *kept])
        return [*found, *kept]

    def resolve(self, dev_uuid: uuid.UUID, index: int | None = None) -> str:
        """The local path of device `dev_uuid`: the cached one if it still checks out, or
        whatever a scan finds (then cached). MissingDeviceError names the UUID (and `index`,
        the device's index in the filesystem) when it is nowhere."""
        for rec in self.cached():
            if rec.dev_uuid == dev_uuid:
                if _matches(rec.path, self.fs_uuid, dev_uuid) is not None:
                    return rec.path
                self.forget(dev_uuid)
                break
        hit = {r.dev_uuid: r for r in self.scan()}.get(dev_uuid)
        if hit is None:
            which = f"device {index} " if index is not None else "device "
            raise MissingDeviceError(
                f"{which}(UUID {dev_uuid}) of famfs {self.fs_uuid} is not found on this host: "
                f"no cached path checks out and no candidate holds it (candidates: "
                f"{PATH_ENV}, {os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG}, {DAX_GLOB})",
                -1 if index is None else index, dev_uuid)
        keep = [r for r in self.cached() if r.dev_uuid != dev_uuid]
        self._write([*keep, hit])
        return hit.path


def forget_device(fs_uuid: uuid.UUID, dev_uuid: uuid.UUID) -> None:
    """Drop `dev_uuid` of `fs_uuid` from this host's cache (its superblock is overwritten)."""
    Resolver(fs_uuid).forget(dev_uuid)
