"""FUSE wire format: opcodes, flags and the structs of `include/uapi/linux/fuse.h` (7.45).

Every struct here is little-endian (the host order of the machines famfs runs on) and padded to
8 bytes as the kernel defines it. A struct class has `SIZE`, `unpack(buf, offset=0)` (from any
buffer; raises `WireError` if the buffer is too short) and `pack()`. Nothing in this module does
I/O: the request loop (`famfs.fuse.session`) and the kernel simulator used by the tests both build
on it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import ClassVar, TypeVar

KERNEL_VERSION = 7
KERNEL_MINOR_VERSION = 45
"""The protocol version this server speaks (the kernel picks min(its minor, ours))."""
MIN_KERNEL_MINOR_VERSION = 28
"""Oldest minor accepted: max_pages (7.28) is needed for 1 MiB requests."""

ROOT_ID = 1
"""Node id of the mount root."""

MIN_READ_BUFFER = 8192
"""The kernel refuses reads of /dev/fuse into buffers smaller than this."""


class Opcode(IntEnum):
    """`enum fuse_opcode`. GET_FMAP / GET_DAXDEV are not here: their numbers depend on the
    kernel revision and are configuration (see famfs.fuse.famfs_ext)."""

    LOOKUP = 1
    FORGET = 2  # no reply
    GETATTR = 3
    SETATTR = 4
    READLINK = 5
    SYMLINK = 6
    MKNOD = 8
    MKDIR = 9
    UNLINK = 10
    RMDIR = 11
    RENAME = 12
    LINK = 13
    OPEN = 14
    READ = 15
    WRITE = 16
    STATFS = 17
    RELEASE = 18
    FSYNC = 20
    SETXATTR = 21
    GETXATTR = 22
    LISTXATTR = 23
    REMOVEXATTR = 24
    FLUSH = 25
    INIT = 26
    OPENDIR = 27
    READDIR = 28
    RELEASEDIR = 29
    FSYNCDIR = 30
    GETLK = 31
    SETLK = 32
    SETLKW = 33
    ACCESS = 34
    CREATE = 35
    INTERRUPT = 36  # no reply
    BMAP = 37
    DESTROY = 38
    IOCTL = 39
    POLL = 40
    NOTIFY_REPLY = 41
    BATCH_FORGET = 42  # no reply
    FALLOCATE = 43
    READDIRPLUS = 44
    RENAME2 = 45
    LSEEK = 46
    COPY_FILE_RANGE = 47
    SETUPMAPPING = 48
    REMOVEMAPPING = 49
    SYNCFS = 50
    TMPFILE = 51
    STATX = 52
    COPY_FILE_RANGE_64 = 53
    CUSE_INIT = 4096


NO_REPLY_OPCODES = frozenset({Opcode.FORGET, Opcode.BATCH_FORGET, Opcode.INTERRUPT})
"""Requests the kernel expects no reply to."""


class InitFlag:
    """INIT flags as one 64-bit set: bits 0..31 travel in `flags`, bits 32..63 in `flags2`
    (only when FUSE_INIT_EXT is set on both sides)."""

    ASYNC_READ = 1 << 0
    POSIX_LOCKS = 1 << 1
    FILE_OPS = 1 << 2
    ATOMIC_O_TRUNC = 1 << 3
    EXPORT_SUPPORT = 1 << 4
    BIG_WRITES = 1 << 5
    DONT_MASK = 1 << 6
    SPLICE_WRITE = 1 << 7
    SPLICE_MOVE = 1 << 8
    SPLICE_READ = 1 << 9
    FLOCK_LOCKS = 1 << 10
    HAS_IOCTL_DIR = 1 << 11
    AUTO_INVAL_DATA = 1 << 12
    DO_READDIRPLUS = 1 << 13
    READDIRPLUS_AUTO = 1 << 14
    ASYNC_DIO = 1 << 15
    WRITEBACK_CACHE = 1 << 16
    NO_OPEN_SUPPORT = 1 << 17
    PARALLEL_DIROPS = 1 << 18
    HANDLE_KILLPRIV = 1 << 19
    POSIX_ACL = 1 << 20
    ABORT_ERROR = 1 << 21
    MAX_PAGES = 1 << 22
    CACHE_SYMLINKS = 1 << 23
    NO_OPENDIR_SUPPORT = 1 << 24
    EXPLICIT_INVAL_DATA = 1 << 25
    MAP_ALIGNMENT = 1 << 26
    SUBMOUNTS = 1 << 27
    HANDLE_KILLPRIV_V2 = 1 << 28
    SETXATTR_EXT = 1 << 29
    INIT_EXT = 1 << 30
    INIT_RESERVED = 1 << 31
    SECURITY_CTX = 1 << 32
    HAS_INODE_DAX = 1 << 33
    CREATE_SUPP_GROUP = 1 << 34
    HAS_EXPIRE_ONLY = 1 << 35
    DIRECT_IO_ALLOW_MMAP = 1 << 36
    PASSTHROUGH = 1 << 37
    NO_EXPORT_SUPPORT = 1 << 38
    HAS_RESEND = 1 << 39
    ALLOW_IDMAP = 1 << 40
    OVER_IO_URING = 1 << 41
    REQUEST_TIMEOUT = 1 << 42


class FopenFlag:
    """`open_flags` of fuse_open_out."""

    DIRECT_IO = 1 << 0
    KEEP_CACHE = 1 << 1
    NONSEEKABLE = 1 << 2
    CACHE_DIR = 1 << 3
    STREAM = 1 << 4
    NOFLUSH = 1 << 5
    PARALLEL_DIRECT_WRITES = 1 << 6
    PASSTHROUGH = 1 << 7


class SetattrValid:
    """Bits of fuse_setattr_in.valid."""

    MODE = 1 << 0
    UID = 1 << 1
    GID = 1 << 2
    SIZE = 1 << 3
    ATIME = 1 << 4
    MTIME = 1 << 5
    FH = 1 << 6
    ATIME_NOW = 1 << 7
    MTIME_NOW = 1 << 8
    LOCKOWNER = 1 << 9
    CTIME = 1 << 10
    KILL_SUIDGID = 1 << 11


GETATTR_FH = 1 << 0
FSYNC_FDATASYNC = 1 << 0
RELEASE_FLUSH = 1 << 0
WRITE_CACHE = 1 << 0


class WireError(ValueError):
    """Bytes that do not hold the struct asked for (too short, bad length field)."""


S = TypeVar("S", bound="_Struct")


class _Struct:
    """A fixed-size struct: subclasses are dataclasses whose fields follow `FORMAT` in order."""

    FORMAT: ClassVar[struct.Struct]
    SIZE: ClassVar[int]

    @classmethod
    def unpack(cls: type[S], buf: bytes | bytearray | memoryview, offset: int = 0) -> S:
        if len(buf) - offset < cls.SIZE:
            raise WireError(f"{cls.__name__}: {len(buf) - offset} bytes, need {cls.SIZE}")
        return cls(*cls.FORMAT.unpack_from(buf, offset))

    def pack(self) -> bytes:
        return self.FORMAT.pack(*vars(self).values())


def _layout(fmt: str) -> tuple[struct.Struct, int]:
    s = struct.Struct("<" + fmt)
    return s, s.size


# struct fuse_in_header (40 bytes): 0 len u32, 4 opcode u32, 8 unique u64, 16 nodeid u64,
#   24 uid u32, 28 gid u32, 32 pid u32, 36 total_extlen u16 (in 8-byte units), 38 padding u16
@dataclass
class InHeader(_Struct):
    len: int
    opcode: int
    unique: int
    nodeid: int
    uid: int
    gid: int
    pid: int
    total_extlen: int = 0
    padding: int = 0
    FORMAT, SIZE = _layout("IIQQIIIHH")


# struct fuse_out_header (16 bytes): 0 len u32, 4 error i32 (0 or -errno), 8 unique u64
@dataclass
class OutHeader(_Struct):
    len: int
    error: int
    unique: int
    FORMAT, SIZE = _layout("IiQ")


# struct fuse_init_in (64 bytes since 7.36; 16 before): 0 major, 4 minor, 8 max_readahead,
#   12 flags, 16 flags2, 20 unused[11] (all u32)
@dataclass
class InitIn(_Struct):
    major: int
    minor: int
    max_readahead: int
    flags: int
    flags2: int = 0
    FORMAT, SIZE = _layout("IIIII44x")
    COMPAT_SIZE: ClassVar[int] = 16

    @classmethod
    def unpack(cls, buf: bytes | bytearray | memoryview, offset: int = 0) -> InitIn:
        """Accepts the 16-byte form of old kernels (flags2 = 0) as well as the 64-byte one."""
        have = len(buf) - offset
        if have >= cls.SIZE:
            return cls(*cls.FORMAT.unpack_from(buf, offset))
        if have >= cls.COMPAT_SIZE:
            return cls(*struct.unpack_from("<IIII", buf, offset))
        raise WireError(f"InitIn: {have} bytes, need {cls.COMPAT_SIZE}")

    @property
    def all_flags(self) -> int:
        """flags | flags2 << 32 (flags2 counts only when INIT_EXT is set)."""
        if self.flags & InitFlag.INIT_EXT:
            return self.flags | self.flags2 << 32
        return self.flags


# struct fuse_init_out (64 bytes): 0 major u32, 4 minor u32, 8 max_readahead u32, 12 flags u32,
#   16 max_background u16, 18 congestion_threshold u16, 20 max_write u32, 24 time_gran u32,
#   28 max_pages u16, 30 map_alignment u16, 32 flags2 u32, 36 max_stack_depth u32,
#   40 request_timeout u16, 42 unused[11] u16
@dataclass
class InitOut(_Struct):
    major: int
    minor: int
    max_readahead: int
    flags: int
    max_background: int
    congestion_threshold: int
    max_write: int
    time_gran: int
    max_pages: int
    map_alignment: int
    flags2: int
    max_stack_depth: int = 0
    request_timeout: int = 0
    FORMAT, SIZE = _layout("IIIIHHIIHHIIH22x")


# struct fuse_attr (88 bytes): 0 ino, 8 size, 16 blocks, 24 atime, 32 mtime, 40 ctime (u64);
#   48 atimensec, 52 mtimensec, 56 ctimensec, 60 mode, 64 nlink, 68 uid, 72 gid, 76 rdev,
#   80 blksize, 84 flags (u32)
@dataclass
class Attr(_Struct):
    ino: int
    size: int
    blocks: int
    atime: int
    mtime: int
    ctime: int
    atimensec: int
    mtimensec: int
    ctimensec: int
    mode: int
    nlink: int
    uid: int
    gid: int
    rdev: int = 0
    blksize: int = 4096
    flags: int = 0
    FORMAT, SIZE = _layout("QQQQQQIIIIIIIIII")


# struct fuse_entry_out (128 bytes): 0 nodeid, 8 generation, 16 entry_valid, 24 attr_valid (u64),
#   32 entry_valid_nsec, 36 attr_valid_nsec (u32), 40 struct fuse_attr attr
@dataclass
class EntryOut:
    nodeid: int
    generation: int
    entry_valid: int
    attr_valid: int
    entry_valid_nsec: int
    attr_valid_nsec: int
    attr: Attr
    HEAD: ClassVar[struct.Struct] = struct.Struct("<QQQQII")
    SIZE: ClassVar[int] = 40 + Attr.SIZE

    def pack(self) -> bytes:
        return self.HEAD.pack(self.nodeid, self.generation, self.entry_valid, self.attr_valid,
                              self.entry_valid_nsec, self.attr_valid_nsec) + self.attr.pack()

    @classmethod
    def unpack(cls, buf: bytes | bytearray | memoryview, offset: int = 0) -> EntryOut:
        if len(buf) - offset < cls.SIZE:
            raise WireError(f"EntryOut: {len(buf) - offset} bytes, need {cls.SIZE}")
        nodeid, gen, entry_valid, attr_valid, entry_nsec, attr_nsec = \
            cls.HEAD.unpack_from(buf, offset)
        return cls(nodeid, gen, entry_valid, attr_valid, entry_nsec, attr_nsec,
                   Attr.unpack(buf, offset + 40))


# struct fuse_attr_out (104 bytes): 0 attr_valid u64, 8 attr_valid_nsec u32, 12 dummy u32,
#   16 struct fuse_attr attr
@dataclass
class AttrOut:
    attr_valid: int
    attr_valid_nsec: int
    attr: Attr
    HEAD: ClassVar[struct.Struct] = struct.Struct("<QII")
    SIZE: ClassVar[int] = 16 + Attr.SIZE

    def pack(self) -> bytes:
        return self.HEAD.pack(self.attr_valid, self.attr_valid_nsec, 0) + self.attr.pack()

    @classmethod
    def unpack(cls, buf: bytes | bytearray | memoryview, offset: int = 0) -> AttrOut:
        if len(buf) - offset < cls.SIZE:
            raise WireError(f"AttrOut: {len(buf) - offset} bytes, need {cls.SIZE}")
        valid, nsec, _ = cls.HEAD.unpack_from(buf, offset)
        return cls(valid, nsec, Attr.unpack(buf, offset + 16))


# struct fuse_forget_in (8 bytes): 0 nlookup u64
@dataclass
class ForgetIn(_Struct):
    nlookup: int
    FORMAT, SIZE = _layout("Q")


# struct fuse_batch_forget_in (8 bytes): 0 count u32, 4 dummy u32; then count x
# struct fuse_forget_one (16 bytes): 0 nodeid u64, 8 nlookup u64
@dataclass
class BatchForgetIn(_Struct):
    count: int
    dummy: int = 0
    FORMAT, SIZE = _layout("II")


@dataclass
class ForgetOne(_Struct):
    nodeid: int
    nlookup: int
    FORMAT, SIZE = _layout("QQ")


# struct fuse_getattr_in (16 bytes): 0 getattr_flags u32, 4 dummy u32, 8 fh u64
@dataclass
class GetattrIn(_Struct):
    getattr_flags: int
    dummy: int
    fh: int
    FORMAT, SIZE = _layout("IIQ")


# struct fuse_setattr_in (88 bytes): 0 valid u32, 4 padding u32, 8 fh, 16 size, 24 lock_owner,
#   32 atime, 40 mtime, 48 ctime (u64); 56 atimensec, 60 mtimensec, 64 ctimensec, 68 mode,
#   72 unused4, 76 uid, 80 gid, 84 unused5 (u32)
@dataclass
class SetattrIn(_Struct):
    valid: int
    padding: int
    fh: int
    size: int
    lock_owner: int
    atime: int
    mtime: int
    ctime: int
    atimensec: int
    mtimensec: int
    ctimensec: int
    mode: int
    unused4: int
    uid: int
    gid: int
    unused5: int
    FORMAT, SIZE = _layout("IIQQQQQQIIIIIIII")


# struct fuse_open_in (8 bytes): 0 flags u32 (open(2) flags), 4 open_flags u32 (FUSE_OPEN_*)
@dataclass
class OpenIn(_Struct):
    flags: int
    open_flags: int = 0
    FORMAT, SIZE = _layout("II")


# struct fuse_open_out (16 bytes): 0 fh u64, 8 open_flags u32 (FOPEN_*), 12 backing_id i32
@dataclass
class OpenOut(_Struct):
    fh: int
    open_flags: int
    backing_id: int = 0
    FORMAT, SIZE = _layout("QIi")


# struct fuse_create_in (16 bytes): 0 flags, 4 mode, 8 umask, 12 open_flags (u32)
@dataclass
class CreateIn(_Struct):
    flags: int
    mode: int
    umask: int
    open_flags: int
    FORMAT, SIZE = _layout("IIII")


# struct fuse_mknod_in (16 bytes): 0 mode, 4 rdev, 8 umask, 12 padding (u32)
@dataclass
class MknodIn(_Struct):
    mode: int
    rdev: int
    umask: int
    padding: int = 0
    FORMAT, SIZE = _layout("IIII")


# struct fuse_mkdir_in (8 bytes): 0 mode u32, 4 umask u32
@dataclass
class MkdirIn(_Struct):
    mode: int
    umask: int
    FORMAT, SIZE = _layout("II")


# struct fuse_rename_in (8 bytes): 0 newdir u64.  fuse_rename2_in (16): + 8 flags u32, 12 pad
@dataclass
class RenameIn(_Struct):
    newdir: int
    FORMAT, SIZE = _layout("Q")


@dataclass
class Rename2In(_Struct):
    newdir: int
    flags: int
    padding: int = 0
    FORMAT, SIZE = _layout("QII")


# struct fuse_link_in (8 bytes): 0 oldnodeid u64
@dataclass
class LinkIn(_Struct):
    oldnodeid: int
    FORMAT, SIZE = _layout("Q")


# struct fuse_read_in (40 bytes): 0 fh u64, 8 offset u64, 16 size u32, 20 read_flags u32,
#   24 lock_owner u64, 32 flags u32, 36 padding u32
@dataclass
class ReadIn(_Struct):
    fh: int
    offset: int
    size: int
    read_flags: int
    lock_owner: int
    flags: int
    padding: int = 0
    FORMAT, SIZE = _layout("QQIIQII")


# struct fuse_write_in (40 bytes): 0 fh u64, 8 offset u64, 16 size u32, 20 write_flags u32,
#   24 lock_owner u64, 32 flags u32, 36 padding u32; the data follows
@dataclass
class WriteIn(_Struct):
    fh: int
    offset: int
    size: int
    write_flags: int
    lock_owner: int
    flags: int
    padding: int = 0
    FORMAT, SIZE = _layout("QQIIQII")


# struct fuse_write_out (8 bytes): 0 size u32, 4 padding u32
@dataclass
class WriteOut(_Struct):
    size: int
    padding: int = 0
    FORMAT, SIZE = _layout("II")


# struct fuse_release_in (24 bytes): 0 fh u64, 8 flags u32, 12 release_flags u32,
#   16 lock_owner u64
@dataclass
class ReleaseIn(_Struct):
    fh: int
    flags: int
    release_flags: int
    lock_owner: int
    FORMAT, SIZE = _layout("QIIQ")


# struct fuse_flush_in (24 bytes): 0 fh u64, 8 unused u32, 12 padding u32, 16 lock_owner u64
@dataclass
class FlushIn(_Struct):
    fh: int
    unused: int
    padding: int
    lock_owner: int
    FORMAT, SIZE = _layout("QIIQ")


# struct fuse_fsync_in (16 bytes): 0 fh u64, 8 fsync_flags u32, 12 padding u32
@dataclass
class FsyncIn(_Struct):
    fh: int
    fsync_flags: int
    padding: int = 0
    FORMAT, SIZE = _layout("QII")


# struct fuse_kstatfs (80 bytes): 0 blocks, 8 bfree, 16 bavail, 24 files, 32 ffree (u64);
#   40 bsize, 44 namelen, 48 frsize, 52 padding, 56 spare[6] (u32). fuse_statfs_out wraps it.
@dataclass
class StatfsOut(_Struct):
    blocks: int
    bfree: int
    bavail: int
    files: int
    ffree: int
    bsize: int
    namelen: int
    frsize: int
    FORMAT, SIZE = _layout("QQQQQIII28x")


# struct fuse_setxattr_in (16 bytes with FUSE_SETXATTR_EXT, 8 without): 0 size u32, 4 flags u32,
#   8 setxattr_flags u32, 12 padding u32; then the NUL-terminated name, then the value
@dataclass
class SetxattrIn(_Struct):
    size: int
    flags: int
    FORMAT, SIZE = _layout("II")


# struct fuse_getxattr_in (8 bytes): 0 size u32, 4 padding u32; then the NUL-terminated name
#   (LISTXATTR has the same input without a name)
@dataclass
class GetxattrIn(_Struct):
    size: int
    padding: int = 0
    FORMAT, SIZE = _layout("II")


# struct fuse_getxattr_out (8 bytes): 0 size u32, 4 padding u32 (the reply to a size-0 probe)
@dataclass
class GetxattrOut(_Struct):
    size: int
    padding: int = 0
    FORMAT, SIZE = _layout("II")


# struct fuse_access_in (8 bytes): 0 mask u32, 4 padding u32
@dataclass
class AccessIn(_Struct):
    mask: int
    padding: int = 0
    FORMAT, SIZE = _layout("II")


# struct fuse_interrupt_in (8 bytes): 0 unique u64 (of the request to interrupt)
@dataclass
class InterruptIn(_Struct):
    unique: int
    FORMAT, SIZE = _layout("Q")


# struct fuse_fallocate_in (32 bytes): 0 fh u64, 8 offset u64, 16 length u64, 24 mode u32,
#   28 padding u32
@dataclass
class FallocateIn(_Struct):
    fh: int
    offset: int
    length: int
    mode: int
    padding: int = 0
    FORMAT, SIZE = _layout("QQQII")


# struct fuse_lseek_in (24 bytes): 0 fh u64, 8 offset u64, 16 whence u32, 20 padding u32;
# struct fuse_lseek_out (8 bytes): 0 offset u64
@dataclass
class LseekIn(_Struct):
    fh: int
    offset: int
    whence: int
    padding: int = 0
    FORMAT, SIZE = _layout("QQII")


@dataclass
class LseekOut(_Struct):
    offset: int
    FORMAT, SIZE = _layout("Q")


# struct fuse_dirent (24 bytes + name, padded to 8): 0 ino u64, 8 off u64, 16 namelen u32,
#   20 type u32 (DT_* = mode >> 12), 24 name[namelen]
DIRENT = struct.Struct("<QQII")


def dirent_size(namelen: int) -> int:
    """Bytes one fuse_dirent of a `namelen`-byte name takes, padding included."""
    return (DIRENT.size + namelen + 7) & ~7


def pack_dirent(ino: int, off: int, dtype: int, name: bytes) -> bytes:
    """One fuse_dirent; `off` is the offset of the NEXT entry (what readdir resumes from)."""
    raw = DIRENT.pack(ino, off, len(name), dtype) + name
    return raw + b"\0" * (dirent_size(len(name)) - len(raw))


def direntplus_size(namelen: int) -> int:
    """Bytes one fuse_direntplus (fuse_entry_out, then fuse_dirent) takes, padding included."""
    return EntryOut.SIZE + dirent_size(namelen)


def pack_direntplus(entry: EntryOut, off: int, dtype: int, name: bytes) -> bytes:
    """One fuse_direntplus: the entry (nodeid 0 for `.`/`..`: no lookup is counted), the dirent."""
    return entry.pack() + pack_dirent(entry.attr.ino, off, dtype, name)


# The same structs flattened for replies packed in one call (fields in the order and at the
# offsets given above; the 16 fuse_attr fields are Attr's):
#   ENTRY_OUT   fuse_entry_out with its fuse_attr (128 bytes)
#   ATTR_OUT    fuse_attr_out with its fuse_attr (104 bytes): attr_valid, attr_valid_nsec, dummy
#   DIRENTPLUS  fuse_direntplus: fuse_entry_out, then fuse_dirent up to its name (152 bytes)
_ATTR_FIELDS = Attr.FORMAT.format.lstrip("<")
ENTRY_OUT = struct.Struct("<QQQQII" + _ATTR_FIELDS)
ATTR_OUT = struct.Struct("<QII" + _ATTR_FIELDS)
DIRENTPLUS = struct.Struct("<QQQQII" + _ATTR_FIELDS + "QQII")
assert ENTRY_OUT.size == EntryOut.SIZE and ATTR_OUT.size == AttrOut.SIZE
assert DIRENTPLUS.size == EntryOut.SIZE + DIRENT.size


@lru_cache(maxsize=64)
def direntplus_struct(namelen: int) -> struct.Struct:
    """DIRENTPLUS with a name of `namelen` bytes after it, NUL-padded to 8 bytes: one
    direntplus_size(namelen)-byte entry per pack (the name is the last value)."""
    return struct.Struct(f"{DIRENTPLUS.format}{direntplus_size(namelen) - DIRENTPLUS.size}s")


@lru_cache(maxsize=64)
def dirent_struct(namelen: int) -> struct.Struct:
    """DIRENT with a name of `namelen` bytes after it, NUL-padded to 8 bytes (one
    dirent_size(namelen)-byte entry per pack; the name is the last value)."""
    return struct.Struct(f"{DIRENT.format}{dirent_size(namelen) - DIRENT.size}s")


def pack_request(opcode: int, unique: int, nodeid: int, payload: bytes = b"", uid: int = 0,
                 gid: int = 0, pid: int = 0) -> bytes:
    """A whole request as the kernel writes it: fuse_in_header, then the op's arguments."""
    return InHeader(InHeader.SIZE + len(payload), opcode, unique, nodeid, uid, gid,
                    pid).pack() + payload


def cstring(buf: bytes | memoryview, offset: int = 0) -> bytes:
    """The NUL-terminated string at `offset` (WireError if there is no NUL)."""
    name, nul, _ = bytes(buf[offset:] if offset else buf).partition(b"\0")
    if not nul:
        raise WireError("name is not NUL-terminated")
    return name


# --- /dev/fuse ioctls --------------------------------------------------------------------------

FUSE_DEV_IOC_MAGIC = 229


def _iow(nr: int, size: int) -> int:
    """_IOW(FUSE_DEV_IOC_MAGIC, nr, size): direction write (1) << 30, size << 16."""
    return (1 << 30) | (size << 16) | (FUSE_DEV_IOC_MAGIC << 8) | nr


# struct fuse_backing_map as the famfs series extends it (16 bytes):
#   0 fd s32   4 flags u32   8 union { padding u64; daxdev_index u64 }
BACKING_MAP = struct.Struct("<iIQ")
FUSE_DEV_IOC_DAXDEV_OPEN_NR = 4
"""The ioctl number of FUSE_DEV_IOC_DAXDEV_OPEN: assumed to be the next free one after
FUSE_DEV_IOC_SYNC_INIT (3); the posted series defines the call but this number is not
confirmed (docs/multi-device.md)."""
FUSE_DEV_IOC_DAXDEV_OPEN = _iow(FUSE_DEV_IOC_DAXDEV_OPEN_NR, BACKING_MAP.size)


def pack_daxdev_open(fd: int, daxdev_index: int) -> bytes:
    """The argument of FUSE_DEV_IOC_DAXDEV_OPEN: register the DAX device open as `fd` at
    index `daxdev_index` of the connection's device table."""
    return BACKING_MAP.pack(fd, 0, daxdev_index)
