"""The famfs FUSE server: a pure-Python server on /dev/fuse.

wire.py     the FUSE wire format (structs, opcodes, flags)
session.py  the request loop over any FUSE file descriptor: INIT negotiation, worker threads,
            dispatch by opcode (extensible), error replies for malformed requests
ops.py      filesystem operations on inodes (knows nothing of wire bytes)
inodes.py   node ids and the in-memory attributes of a mount
mount.py    mount(2)/umount2(2), daemonizing, stale-mount cleanup
"""
