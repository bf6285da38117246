"""A background mount server reports its problems where `--log` says, not into the void."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import wait_for
from famfs.fs.filesystem import Filesystem
from famfs.omf.layout import LOG_OFFSET
from famfs.omf.log import COUNTERS_OFFSET, entry_offset


def corrupt_next_entry(image: str) -> None:
    """Append one log slot that fails its CRC and move the header past it."""
    with Filesystem(image, writable=True) as fs:
        head = fs.log.header()
        slot = LOG_OFFSET + entry_offset(head.next_index)
        nxt = head.next_index + 1
        fs.device.write(slot, head.next_index.to_bytes(8, "little") + bytes(528)
                        + (12345).to_bytes(8, "little"))
        fs.device.write(LOG_OFFSET + COUNTERS_OFFSET, nxt.to_bytes(8, "little") * 2)


def test_a_background_server_writes_replay_errors_to_its_log_file(
        mounter, famfs_image: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    mp, _ = mounter.mount(famfs_image, "--log", str(log))
    corrupt_next_entry(famfs_image)
    os.listdir(mp)
    assert wait_for(lambda: log.exists() and "log entry 0" in log.read_text(), 5.0), \
        log.read_text() if log.exists() else "no log file"
    assert "field crc" in log.read_text()
