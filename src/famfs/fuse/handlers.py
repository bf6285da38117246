"""The standard FUSE opcodes of a famfs mount: decode arguments, call FamfsOperations, encode.

`standard_handlers(ops)` returns the dispatch table a `Session` starts with. This is the only
place where wire structs meet filesystem operations: ops.py never sees bytes of the protocol,
session.py never sees a filesystem.
"""

from __future__ import annotations

import errno
import os
import struct
import time
from collections.abc import Callable
from stat import S_IFDIR, S_IFREG

from famfs.errors import FamfsError
from famfs.fs.namespace import Node
from famfs.fuse import wire
from famfs.fuse.inodes import BLOCK_SIZE, Inode, Stat
from famfs.fuse.ops import AttrChanges, FamfsOperations, OpenFile
from famfs.fuse.session import Handler, Header, Reply, Request, short_path
from famfs.fuse.wire import FopenFlag, Opcode, SetattrValid

NS = 1_000_000_000
DT_SHIFT = 12
"""A directory entry's DT_* type is st_mode's type bits shifted down by this much."""


def attr_values(st: Stat) -> tuple[int, ...]:
    """The 16 fields of the fuse_attr of `st`, in wire order."""
    ino, mode, nlink, uid, gid, size, atime, mtime, ctime, blksize = st
    asec, ansec = divmod(atime, NS)
    if mtime == atime and ctime == atime:  # a logged node's times: all the mount's start
        msec = csec = asec
        mnsec = cnsec = ansec
    else:
        msec, mnsec = divmod(mtime, NS)
        csec, cnsec = divmod(ctime, NS)
    return (ino, size, -(-size // BLOCK_SIZE), asec, msec, csec, ansec, mnsec, cnsec, mode,
            nlink, uid, gid, 0, blksize, 0)


def entry_out(nodeid: int, st: Stat, valid: tuple[int, int]) -> bytes:
    """fuse_entry_out of node `nodeid` with attributes `st`, kept by the kernel for `valid`
    (entry seconds, attribute seconds)."""
    return wire.ENTRY_OUT.pack(nodeid, 0, valid[0], valid[1], 0, 0, *attr_values(st))


def attr_out(st: Stat, attr_valid: int) -> bytes:
    """fuse_attr_out of `st`, kept by the kernel for `attr_valid` seconds."""
    return wire.ATTR_OUT.pack(attr_valid, 0, 0, *attr_values(st))


def _name(body: memoryview, offset: int = 0) -> str:
    return os.fsdecode(wire.cstring(body, offset))


def standard_handlers(ops: FamfsOperations) -> dict[int, Handler]:
    """Handlers for every opcode a famfs mount answers, keyed by opcode. The frequent ones
    (lookups, attributes, listings, extended attributes, data) also take the session's short
    path (`session.short_path`)."""

    valid_for = ops.valid_for

    @short_path
    def lookup(header: Header, body: memoryview) -> Reply:
        inode, st = ops.lookup(header[3], _name(body))
        return entry_out(inode.nodeid, st, valid_for(inode))

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

    @short_path
    def getattr_(header: Header, body: memoryview) -> Reply:
        if len(body):
            wire.GetattrIn.unpack(body)
        inode, st = ops.getattr(header[3])
        return attr_out(st, valid_for(inode)[1])

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
        st = ops.setattr(req.nodeid, changes)
        return attr_out(st, valid_for(ops.inode(req.nodeid))[1])

    def open_(req: Request) -> Reply:
        arg = wire.OpenIn.unpack(req.body)
        opened = ops.open(req.nodeid, arg.flags)
        return wire.OpenOut(opened.fh, open_flags(opened)).pack()

    read_in = wire.ReadIn.FORMAT
    read_in_size = wire.ReadIn.SIZE
    write_in_size = wire.WriteIn.SIZE

    views = ops.inodes.views

    @short_path
    def read(header: Header, body: memoryview) -> Reply:
        # The hot path touches as little as it can: between two requests the 1 MiB copy
        # evicts the caches, and every object looked at here is a cache miss.
        if len(body) < read_in_size:
            wire.ReadIn.unpack(body)  # raises WireError naming the problem
        fields = read_in.unpack_from(body)
        view = views.get(header[3])
        if view is not None:  # an open file that is one run on the device
            return view[fields[1]:fields[1] + fields[2]]  # slicing stops at the end: EOF
        return ops.read(header[3], fields[1], fields[2])

    @short_path
    def write(header: Header, body: memoryview) -> Reply:
        arg = wire.WriteIn.unpack(body)
        data = body[write_in_size:]
        if len(data) != arg.size:
            raise FamfsError("WRITE: size field disagrees with the data", errno.EINVAL)
        return wire.WriteOut(ops.write(header[3], arg.offset, data)).pack()

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

    open_in_size = wire.OpenIn.SIZE
    open_out = wire.OpenOut.FORMAT
    release_in = wire.ReleaseIn.FORMAT
    release_in_size = wire.ReleaseIn.SIZE

    @short_path
    def opendir(header: Header, body: memoryview) -> Reply:
        if len(body) < open_in_size:
            wire.OpenIn.unpack(body)
        return open_out.pack(ops.opendir(header[3]), 0, 0)

    stat_of = ops.stat
    inodes_of = ops.inodes_of
    fsencode = os.fsencode
    plus_struct = wire.direntplus_struct
    plain_struct = wire.dirent_struct

    @short_path
    def readdir(header: Header, body: memoryview) -> Reply:
        """Directory entries from the handle's offset, as many as fit the requested size."""
        if len(body) < read_in_size:
            wire.ReadIn.unpack(body)
        fh, offset, size = read_in.unpack_from(body)[:3]
        names, packers, children, offsets, complete = fitting(header[3], fh, offset, size,
                                                              plain_struct)
        out = bytearray()
        for raw, packer, inode, off in zip(names, packers, inodes_of(children), offsets,
                                           strict=True):
            dtype = (S_IFDIR if inode.is_dir else S_IFREG) >> DT_SHIFT
            out += packer.pack(inode.nodeid, off, len(raw), dtype, raw)
        if complete and names:
            ops.listed(fh)
        return out

    def fitting(nodeid: int, fh: int, offset: int, size: int,
                struct_of: Callable[[int], struct.Struct]
                ) -> tuple[list[bytes], list[struct.Struct], list[Node | Inode], list[int],
                           bool]:
        """The entries from `offset` whose packed form (by `struct_of(name length)`) fits
        `size` bytes: their names, structs, nodes and offsets, and whether they are all the
        entries left."""
        names: list[bytes] = []
        packers: list[struct.Struct] = []
        children: list[Node | Inode] = []
        offsets: list[int] = []
        used = 0
        for name, child, off in ops.readdir(nodeid, fh, offset):
            raw = fsencode(name)
            packer = struct_of(len(raw))
            used += packer.size
            if used > size:
                return names, packers, children, offsets, False
            names.append(raw)
            packers.append(packer)
            children.append(child)
            offsets.append(off)
        return names, packers, children, offsets, True

    @short_path
    def readdirplus(header: Header, body: memoryview) -> Reply:
        """Like readdir, each entry with its fuse_entry_out: one kernel lookup counted for
        each (`.` and `..` carry node id 0: no lookup)."""
        if len(body) < read_in_size:
            wire.ReadIn.unpack(body)
        fh, offset, size = read_in.unpack_from(body)[:3]
        names, packers, children, offsets, complete = fitting(header[3], fh, offset, size,
                                                              plus_struct)
        dots = 0
        while dots < len(offsets) and offsets[dots] <= 2:
            dots += 1
        inodes = inodes_of(children[:dots]) + inodes_of(children[dots:], True)
        out = bytearray()
        for raw, packer, inode, off in zip(names, packers, inodes, offsets, strict=True):
            st = stat_of(inode)
            if off > 2:
                nodeid = inode.nodeid
                entry_valid, attr_valid = valid_for(inode)
            else:
                nodeid = entry_valid = attr_valid = 0
            out += packer.pack(nodeid, 0, entry_valid, attr_valid, 0, 0, *attr_values(st),
                               st.ino, off, len(raw), st.mode >> DT_SHIFT, raw)
        if complete and names:
            ops.listed(fh)
        return out

    @short_path
    def releasedir(header: Header, body: memoryview) -> Reply:
        if len(body) < release_in_size:
            wire.ReleaseIn.unpack(body)
        ops.releasedir(release_in.unpack_from(body)[0])
        return None

    def fsyncdir(req: Request) -> Reply:
        wire.FsyncIn.unpack(req.body)
        return None

    def statfs(req: Request) -> Reply:
        st = ops.statfs()
        bs = st.block_size
        return wire.StatfsOut(st.capacity // bs, st.free // bs, st.free // bs, st.files,
                              st.free_files, bs, st.name_max, bs).pack()

    @short_path
    def getxattr(header: Header, body: memoryview) -> Reply:
        arg = wire.GetxattrIn.unpack(body)
        value = ops.getxattr(header[3], _name(body, wire.GetxattrIn.SIZE), uid=header[4],
                             pid=header[6], probe=arg.size == 0)
        return _sized(arg.size, value)

    @short_path
    def listxattr(header: Header, body: memoryview) -> Reply:
        arg = wire.GetxattrIn.unpack(body)
        names = b"".join(os.fsencode(n) + b"\0" for n in ops.listxattr(header[3]))
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
        return entry_out(inode.nodeid, st, valid_for(inode)) + wire.OpenOut(
            opened.fh, open_flags(opened)).pack()

    def mknod(req: Request) -> Reply:
        arg = wire.MknodIn.unpack(req.body)
        inode, st = ops.mknod(req.nodeid, _name(req.body, wire.MknodIn.SIZE), arg.mode,
                              req.header.uid, req.header.gid)
        return entry_out(inode.nodeid, st, valid_for(inode))

    def mkdir(req: Request) -> Reply:
        arg = wire.MkdirIn.unpack(req.body)
        inode, st = ops.mkdir(req.nodeid, _name(req.body, wire.MkdirIn.SIZE), arg.mode,
                              req.header.uid, req.header.gid)
        return entry_out(inode.nodeid, st, valid_for(inode))

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
