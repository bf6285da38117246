"""Malformed requests get error replies, and the server keeps answering.

The simulated kernel (tests/fuse/simulator.py) writes broken requests to a real session serving
a real image: too short, longer or shorter than their length field, larger than any request,
unknown opcodes, arguments that do not parse. After each, a well-formed request still works.
"""

from __future__ import annotations

import errno
import random
import struct

import pytest
from simulator import INIT_OFFER_LINUX_745, Served, famfs_init, serve

from famfs.fs.filesystem import Filesystem
from famfs.fs.mkfs import mkfs
from famfs.fuse import wire
from famfs.fuse.famfs_ext import REVISIONS
from famfs.fuse.wire import Opcode
from famfs.mapping.files import write_file
from famfs.omf.layout import MiB

CONTENT = bytes(range(256)) * 16


@pytest.fixture
def served(image_path: str) -> Served:
    mkfs(image_path, size=32 * MiB)
    with Filesystem(image_path, writable=True) as fs:
        write_file(fs, fs.create_file("f", len(CONTENT)), 0, CONTENT)
    with serve(image_path, "v10") as s:
        famfs_init(s.sim, REVISIONS["v10"])
        yield s
        assert s.session.errors == 0, "a handler failed with an unexpected exception"


def still_answers(s: Served) -> None:
    """A well-formed request right after: the server is up and in sync."""
    nodeid = s.sim.lookup(wire.ROOT_ID, "f").nodeid
    fh = s.sim.open(nodeid).fh
    assert s.sim.read(nodeid, fh, 100, 50) == CONTENT[100:150]


def header(opcode: int, unique: int, nodeid: int = wire.ROOT_ID, length: int | None = None,
           body: bytes = b"") -> bytes:
    size = wire.InHeader.SIZE + len(body) if length is None else length
    return wire.InHeader(size, opcode, unique, nodeid, 0, 0, 0).pack() + body


def test_request_shorter_than_a_header_gets_einval(served: Served) -> None:
    s = served
    unique = s.sim.next_unique()
    s.sim.send_raw(header(Opcode.GETATTR, unique)[:24])
    assert s.sim.receive(unique).error == errno.EINVAL
    still_answers(s)


def test_request_too_short_to_carry_a_unique_is_dropped(served: Served) -> None:
    s = served
    s.sim.send_raw(b"\x01\x02\x03")
    assert s.sim.poll_reply(0.3) is None
    still_answers(s)


@pytest.mark.parametrize("delta", [-8, -1, 1, 4096])
def test_length_field_that_disagrees_with_the_bytes_gets_einval(served: Served,
                                                                delta: int) -> None:
    s = served
    unique = s.sim.next_unique()
    body = b"f\0"
    s.sim.send_raw(header(Opcode.LOOKUP, unique, length=wire.InHeader.SIZE + len(body) + delta,
                          body=body))
    assert s.sim.receive(unique).error == errno.EINVAL
    still_answers(s)


def test_oversized_request_gets_einval(served: Served) -> None:
    s = served
    unique = s.sim.next_unique()
    body = wire.WriteIn(0, 0, 3 * MiB, 0, 0, 0).pack() + bytes(3 * MiB)
    s.sim.send_raw(header(Opcode.WRITE, unique, body=body))
    assert s.sim.receive(unique).error == errno.EINVAL
    still_answers(s)


@pytest.mark.parametrize("opcode", [0, 7, 19, 53, 56, 999, 4096, 0xFFFFFFFF])
def test_unknown_opcode_gets_enosys(served: Served, opcode: int) -> None:
    s = served
    assert s.sim.request(opcode, wire.ROOT_ID, b"\0" * 16).error == errno.ENOSYS
    still_answers(s)


@pytest.mark.parametrize("opcode,body", [
    (Opcode.READ, b"\0" * 7),
    (Opcode.OPEN, b""),
    (Opcode.GETXATTR, b"\0\0"),
    (Opcode.LOOKUP, b"no-terminating-nul"),
    (Opcode.SETATTR, b"\0" * 40),
    (Opcode.RELEASE, b"\0" * 3),
])
def test_arguments_too_short_get_einval(served: Served, opcode: int, body: bytes) -> None:
    s = served
    nodeid = s.sim.lookup(wire.ROOT_ID, "f").nodeid
    assert s.sim.request(opcode, nodeid, body).error == errno.EINVAL
    still_answers(s)


def test_write_whose_size_field_disagrees_with_its_data_gets_einval(served: Served) -> None:
    s = served
    nodeid = s.sim.lookup(wire.ROOT_ID, "f").nodeid
    fh = s.sim.open(nodeid, 2).fh  # O_RDWR
    body = wire.WriteIn(fh, 0, 100, 0, 0, 0).pack() + b"x" * 10
    assert s.sim.request(Opcode.WRITE, nodeid, body).error == errno.EINVAL
    still_answers(s)


def test_requests_on_unknown_node_ids_get_errors(served: Served) -> None:
    s = served
    for opcode, body in [(Opcode.GETATTR, wire.GetattrIn(0, 0, 0).pack()),
                         (Opcode.OPEN, wire.OpenIn(0).pack()),
                         (Opcode.LOOKUP, b"x\0"),
                         (REVISIONS["v10"].get_fmap, b"")]:
        assert s.sim.request(opcode, 0xDEAD_BEEF, body).error != 0
    still_answers(s)


def test_second_init_is_answered_and_changes_nothing(served: Served) -> None:
    s = served
    before = s.sim.negotiated()
    famfs_init(s.sim, REVISIONS["v10"])
    assert s.sim.negotiated() == before
    still_answers(s)


def test_request_before_init_gets_eio(image_path: str) -> None:
    mkfs(image_path, size=32 * MiB)
    with serve(image_path, "v10") as s:
        assert s.sim.request(Opcode.GETATTR, wire.ROOT_ID,
                             wire.GetattrIn(0, 0, 0).pack()).error == errno.EIO
        assert s.sim.request(REVISIONS["v10"].get_fmap, wire.ROOT_ID).error == errno.EIO
        s.sim.init(INIT_OFFER_LINUX_745)
        assert s.sim.getattr(wire.ROOT_ID).attr.ino == wire.ROOT_ID


def test_init_with_truncated_arguments_gets_einval(image_path: str) -> None:
    mkfs(image_path, size=32 * MiB)
    with serve(image_path, "v10") as s:
        assert s.sim.request(Opcode.INIT, 0, struct.pack("<II", 7, 45)).error == errno.EINVAL
        s.sim.init(INIT_OFFER_LINUX_745)
        assert s.sim.getattr(wire.ROOT_ID).attr.ino == wire.ROOT_ID


SKIP_IN_FUZZ = {Opcode.INIT, Opcode.DESTROY, Opcode.WRITE, Opcode.SETATTR, Opcode.FORGET,
                Opcode.BATCH_FORGET, Opcode.INTERRUPT}


def test_random_requests_all_get_replies_and_the_server_stays_up(served: Served) -> None:
    """300 requests with random opcodes, node ids and argument bytes (seeded)."""
    s = served
    rng = random.Random(1234)
    opcodes = [op for op in range(1, 60) if op not in SKIP_IN_FUZZ]
    nodeid = s.sim.lookup(wire.ROOT_ID, "f").nodeid
    for _ in range(300):
        opcode = rng.choice(opcodes)
        target = rng.choice([wire.ROOT_ID, nodeid, 0, rng.getrandbits(64)])
        body = rng.randbytes(rng.choice([0, 1, 8, 16, 40, 64, 200]))
        reply = s.sim.request(opcode, target, body)
        assert reply.error >= 0
    still_answers(s)
