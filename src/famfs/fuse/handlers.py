"""The standard FUSE opcodes of a famfs mount: decode arguments, call FamfsOperations, encode.

`standard_handlers(ops)` returns the dispatch table a `Session` starts with. This is the only
place where wire structs meet filesystem operations: ops.py never sees bytes of the protocol,
session.py never sees a filesystem.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

from famfs.errors import FamfsError
from famfs.fuse import wire
from famfs.fuse.inodes import Stat
from famfs.fuse.ops import AttrChanges, DirEntry, FamfsOperations, OpenFile, mode_type
from famfs.fuse.session import Handler, Reply, Request
from famfs.fuse.wire import FopenFlag, Opcode, SetattrValid

ENTRY_VALID_S = 1
"""Seconds the kernel may cache a name (names never change once they exist)."""
ATTR_VALID_S = 1
"""Seconds the kernel may cache attributes."""

NS = 1_000_000_000


def attr_of(st: Stat) -> wire.Attr:
    """The fuse_attr of `st`."""
    return wire.Attr(
        ino=st.ino, size=st.size, blocks=st.blocks,
        atime=st.atime_ns // NS, mtime=st.mtime_ns // NS, ctime=st.ctime_ns // NS,
        atimensec=st.atime_ns % NS, mtimensec=st.mtime_ns % NS, ctimensec=st.ctime_ns % NS,
        mode=st.mode, nlink=st.nlink, uid=st.uid, gid=st.gid, rdev=0, blksize=st.blksize)


def entry_of(nodeid: int, st: Stat) -> wire.EntryOut:
    return wire.EntryOut(nodeid, 0, ENTRY_VALID_S, ATTR_VALID_S, 0, 0, attr_of(st))


def attr_out(st: Stat) -> bytes:
    return wire.AttrOut(ATTR_VALID_S, 0, attr_of(st)).pack()


def _name(body: memoryview, offset: int = 0) -> str:
    return os.fsdecode(wire.cstring(body, offset))


def standard_handlers(ops: FamfsOperations) -> dict[int, Handler]:
    """Handlers for every opcode a famfs mount answers, keyed by opcode."""

    def lookup(req: Request) -> Reply:
        inode, st = ops.lookup(req.nodeid, _name(req.body))
        return entry_of(inode.nodeid, st).pack()

    def forget(req: Request) -> Reply:
        ops.forget(req.nodeid, wire.ForgetIn.unpack(req.body).nlookup)
        return None

    def batch_forget(req: Request) -> Reply:
        head = wire.BatchForgetIn.unpack(req.body)
        pos = wire.BatchForgetIn.SIZE
        for _ in range(head.count):
            one = wire.ForgetOne.unpack(req.body, pos)
            ops.forget(one.nodeid, one.nlookup)
            pos += wire.ForgetOne.SIZE
        return None

    def getattr_(req: Request) -> Reply:
        if len(req.body):
            wire.GetattrIn.unpack(req.body)
        return attr_out(ops.getattr(req.nodeid))

    def setattr_(req: Request) -> Reply:
        arg = wire.SetattrIn.unpack(req.body)
        valid = arg.valid
        now = time.time_ns()

        def when(flag_now: int, flag: int, sec: int, nsec: int) -> int | None:
            if valid & flag_now:
                return now
            if valid & flag:
                return sec * NS + nsec
            return None

        changes = AttrChanges(
            mode=arg.mode if valid & SetattrValid.MODE else None,
            uid=arg.uid if valid & SetattrValid.UID else None,
            gid=arg.gid if valid & SetattrValid.GID else None,
            size=arg.size if valid & SetattrValid.SIZE else None,
            atime_ns=when(SetattrValid.ATIME_NOW, SetattrValid.ATIME, arg.atime, arg.atimensec),
            mtime_ns=when(SetattrValid.MTIME_NOW, SetattrValid.MTIME, arg.mtime, arg.mtimensec),
            ctime_ns=(arg.ctime * NS + arg.ctimensec) if valid & SetattrValid.CTIME else None)
        return attr_out(ops.setattr(req.nodeid, changes))

    def open_(req: Request) -> Reply:
        arg = wire.OpenIn.unpack(req.body)
        opened = ops.open(req.nodeid, arg.flags)
        return wire.OpenOut(opened.fh, open_flags(opened)).pack()

    read_in = wire.ReadIn.FORMAT
    read_in_size = wire.ReadIn.SIZE
    write_in_size = wire.WriteIn.SIZE

    views = ops.inodes.views

    def read_data(nodeid: int, body: memoryview) -> Reply:
        # The hot path touches as little as it can: between two requests the 1 MiB copy
        # evicts the caches, and every object looked at here is a cache miss.
        if len(body) < read_in_size:
            wire.ReadIn.unpack(body)  # raises WireError naming the problem
        fields = read_in.unpack_from(body)
        view = views.get(nodeid)
        if view is not None:  # an open file that is one run on the device
            return view[fields[1]:fields[1] + fields[2]]  # slicing stops at the end: EOF
        return ops.read(nodeid, fields[1], fields[2])

    def read(req: Request) -> Reply:
        return read_data(req.nodeid, req.body)

    def write_data(nodeid: int, body: memoryview) -> Reply:
        arg = wire.WriteIn.unpack(body)
        data = body[write_in_size:]
        if len(data) != arg.size:
            raise FamfsError("WRITE: size field disagrees with the data", errno.EINVAL)
        return wire.WriteOut(ops.write(nodeid, arg.offset, data)).pack()

    def write(req: Request) -> Reply:
        return write_data(req.nodeid, req.body)

    read.data = read_data  # type: ignore[attr-defined]
    write.data = write_data  # type: ignore[attr-defined]

    def release(req: Request) -> Reply:
        ops.release(req.nodeid, wire.ReleaseIn.unpack(req.body).fh)
        return None

    def flush(req: Request) -> Reply:
        ops.flush(req.nodeid, wire.FlushIn.unpack(req.body).fh)
        return None

    def fsync(req: Request) -> Reply:
        wire.FsyncIn.unpack(req.body)
        ops.fsync(req.nodeid)
        return None

    def opendir(req: Request) -> Reply:
        wire.OpenIn.unpack(req.body)
        return wire.OpenOut(ops.opendir(req.nodeid), 0).pack()

    def listing(req: Request, entry_size: Callable[[int], int],
                pack: Callable[[DirEntry, bytes], bytes]) -> Reply:
        """Directory entries from the handle's offset, as many as fit the requested size."""
        arg = wire.ReadIn.unpack(req.body)
        out: list[bytes] = []
        used = 0
        for ent in ops.readdir(req.nodeid, arg.fh, arg.offset):
            name = os.fsencode(ent.name)
            size = entry_size(len(name))
            if used + size > arg.size:
                break
            out.append(pack(ent, name))
            used += size
        return out

    def readdir(req: Request) -> Reply:
        return listing(req, wire.dirent_size, lambda ent, name: wire.pack_dirent(
            ent.stat.ino, ent.offset, mode_type(ent.stat), name))

    def pack_plus(ent: DirEntry, name: bytes) -> bytes:
        nodeid = 0
        if ent.inode is not None:
            nodeid = ent.inode.nodeid
            ops.remember(ent.inode)
        return wire.pack_direntplus(entry_of(nodeid, ent.stat), ent.offset,
                                    mode_type(ent.stat), name)

    def readdirplus(req: Request) -> Reply:
        return listing(req, wire.direntplus_size, pack_plus)

    def releasedir(req: Request) -> Reply:
        ops.releasedir(wire.ReleaseIn.unpack(req.body).fh)
        return None

    def fsyncdir(req: Request) -> Reply:
        wire.FsyncIn.unpack(req.body)
        return None

    def statfs(req: Request) -> Reply:
        st = ops.statfs()
        bs = st.block_size
        return wire.StatfsOut(st.capacity // bs, st.free // bs, st.free // bs, st.files,
                              st.free_files, bs, st.name_max, bs).pack()

    def getxattr(req: Request) -> Reply:
        arg = wire.GetxattrIn.unpack(req.body)
        value = ops.getxattr(req.nodeid, _name(req.body, wire.GetxattrIn.SIZE),
                             uid=req.header.uid, pid=req.header.pid, probe=arg.size == 0)
        return _sized(arg.size, value)

    def listxattr(req: Request) -> Reply:
        arg = wire.GetxattrIn.unpack(req.body)
        names = b"".join(os.fsencode(n) + b"\0" for n in ops.listxattr(req.nodeid))
        return _sized(arg.size, names)

    def access(req: Request) -> Reply:
        arg = wire.AccessIn.unpack(req.body)
        ops.access(req.nodeid, arg.mask, req.header.uid, req.header.gid)
        return None

    def open_flags(opened: OpenFile) -> int:
        # NOFLUSH: close(2) sends no FLUSH (one round trip less per file; nothing is buffered
        # here, writes are write-through without the writeback cache, and an mmap writes its
        # dirty pages back when it is unmapped, before the file's last release).
        flags = FopenFlag.NOFLUSH
        if opened.direct_io:
            flags |= FopenFlag.DIRECT_IO | FopenFlag.PARALLEL_DIRECT_WRITES
        if opened.keep_cache:
            flags |= FopenFlag.KEEP_CACHE
        return flags

    def create(req: Request) -> Reply:
        arg = wire.CreateIn.unpack(req.body)
        inode, st, opened = ops.create(req.nodeid, _name(req.body, wire.CreateIn.SIZE),
                                       arg.flags, arg.mode, req.header.uid, req.header.gid)
        return entry_of(inode.nodeid, st).pack() + wire.OpenOut(opened.fh,
                                                                open_flags(opened)).pack()

    def mknod(req: Request) -> Reply:
        arg = wire.MknodIn.unpack(req.body)
        inode, st = ops.mknod(req.nodeid, _name(req.body, wire.MknodIn.SIZE), arg.mode,
                              req.header.uid, req.header.gid)
        return entry_of(inode.nodeid, st).pack()

    def mkdir(req: Request) -> Reply:
        arg = wire.MkdirIn.unpack(req.body)
        inode, st = ops.mkdir(req.nodeid, _name(req.body, wire.MkdirIn.SIZE), arg.mode,
                              req.header.uid, req.header.gid)
        return entry_of(inode.nodeid, st).pack()

    def unlink(req: Request) -> Reply:
        ops.unlink(req.nodeid, _name(req.body))
        return None

    def renamed(req: Request, newdir: int, flags: int, offset: int) -> Reply:
        old = wire.cstring(req.body, offset)
        new = wire.cstring(req.body, offset + len(old) + 1)
        ops.rename(req.nodeid, os.fsdecode(old), newdir, os.fsdecode(new), flags)
        return None

    def rename(req: Request) -> Reply:
        arg = wire.RenameIn.unpack(req.body)
        return renamed(req, arg.newdir, 0, wire.RenameIn.SIZE)

    def rename2(req: Request) -> Reply:
        arg = wire.Rename2In.unpack(req.body)
        return renamed(req, arg.newdir, arg.flags, wire.Rename2In.SIZE)

    def fallocate(req: Request) -> Reply:
        arg = wire.FallocateIn.unpack(req.body)
        ops.fallocate(req.nodeid, arg.offset, arg.length, arg.mode)
        return None

    def refused(operation: str) -> Handler:
        def handler(req: Request) -> Reply:
            ops.refuse(operation)
            return None
        return handler

    table: dict[int, Callable[[Request], Reply]] = {
        Opcode.LOOKUP: lookup,
        Opcode.FORGET: forget,
        Opcode.BATCH_FORGET: batch_forget,
        Opcode.GETATTR: getattr_,
        Opcode.SETATTR: setattr_,
        Opcode.OPEN: open_,
        Opcode.READ: read,
        Opcode.WRITE: write,
        Opcode.RELEASE: release,
        Opcode.FLUSH: flush,
        Opcode.FSYNC: fsync,
        Opcode.OPENDIR: opendir,
        Opcode.READDIR: readdir,
        Opcode.READDIRPLUS: readdirplus,
        Opcode.RELEASEDIR: releasedir,
        Opcode.FSYNCDIR: fsyncdir,
        Opcode.STATFS: statfs,
        Opcode.GETXATTR: getxattr,
        Opcode.LISTXATTR: listxattr,
        Opcode.ACCESS: access,
        Opcode.CREATE: create,
        Opcode.MKNOD: mknod,
        Opcode.MKDIR: mkdir,
        Opcode.SYMLINK: refused("symlink"),
        Opcode.LINK: refused("link"),
        Opcode.UNLINK: unlink,
        Opcode.RMDIR: refused("rmdir"),
        Opcode.RENAME: rename,
        Opcode.RENAME2: rename2,
        Opcode.SETXATTR: refused("setxattr"),
        Opcode.REMOVEXATTR: refused("removexattr"),
        Opcode.FALLOCATE: fallocate,
        Opcode.TMPFILE: refused("tmpfile"),
    }
    return {int(k): v for k, v in table.items()}


def _sized(size: int, value: bytes) -> Reply:
    """The getxattr/listxattr size protocol: a 0-size probe gets the length; a buffer too
    small gets ERANGE."""
    if size == 0:
        return wire.GetxattrOut(len(value)).pack()
    if size < len(value):
        raise FamfsError("the buffer is too small for the value", errno.ERANGE)
    return value
