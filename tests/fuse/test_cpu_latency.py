"""The CPU latency QoS request a mount holds with --cpu-latency: set while requests keep coming,
withdrawn once the request thread sleeps, and gone with the server."""

from __future__ import annotations

import errno
import os
import time

import pytest

from conftest import populate, wait_for
from famfs.fuse.cpu_latency import (
    CPU_LATENCY_DEVICE,
    MAX_LIMIT_US,
    CpuLatencyRequest,
    effective_limit_us,
    holding,
)

pytestmark = pytest.mark.fuse

LIMIT_US = 7
"""A limit no other request on a test machine is likely to ask for (seen as the effective one
only while ours is held, unless something else asks for less)."""


@pytest.fixture
def latency_device() -> None:
    """Skip (fail under CI=true) without the kernel's CPU latency device or root."""
    why = None
    if not os.path.exists(CPU_LATENCY_DEVICE):
        why = f"{CPU_LATENCY_DEVICE} is missing"
    elif os.geteuid() != 0:
        why = f"{CPU_LATENCY_DEVICE} needs root"
    if why is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CPU latency tests cannot run: {why}")
    pytest.skip(why)


@pytest.fixture
def unlimited(latency_device: None) -> int:
    """The effective limit before the test (no other process may hold one below LIMIT_US)."""
    before = effective_limit_us()
    if before <= LIMIT_US:
        pytest.skip(f"another process holds a CPU latency limit of {before} us")
    return before


@pytest.fixture
def image(famfs_image: str) -> str:
    populate(famfs_image, {"a.bin": (4096, 0o644, 0, 0)}, {})
    return famfs_image


def test_a_held_request_is_the_limit_the_kernel_obeys(unlimited):
    request = CpuLatencyRequest(LIMIT_US)
    try:
        request.hold()
        assert request.held and effective_limit_us() == LIMIT_US
    finally:
        request.close()


def test_a_released_request_withdraws_its_limit(unlimited):
    request = CpuLatencyRequest(LIMIT_US)
    try:
        request.hold()
        request.release()
        assert not request.held and effective_limit_us() == unlimited
    finally:
        request.close()


def test_a_closed_request_is_dropped_by_the_kernel(unlimited):
    request = CpuLatencyRequest(LIMIT_US)
    request.hold()
    request.close()
    assert effective_limit_us() == unlimited
    request.hold()
    assert not request.held and effective_limit_us() == unlimited


@pytest.mark.parametrize("limit", [-1, MAX_LIMIT_US + 1])
def test_a_limit_out_of_range_is_refused(limit):
    with pytest.raises(ValueError, match="CPU latency limit"):
        CpuLatencyRequest(limit)


def test_a_device_that_cannot_be_opened_raises_an_oserror_with_its_errno(tmp_path):
    with pytest.raises(FileNotFoundError):
        CpuLatencyRequest(0, path=str(tmp_path / "missing"))


def test_a_write_that_fails_closes_the_request_and_says_why():
    request = CpuLatencyRequest(0, path="/dev/full")  # every write to it fails with ENOSPC
    request.hold()
    assert not request.held and isinstance(request.error, OSError)
    assert request.error.errno == errno.ENOSPC
    request.hold()
    request.release()
    request.close()
    assert not request.held


def test_a_mount_holds_the_limit_while_serving_and_withdraws_it_when_idle(image, mounter,
                                                                          unlimited):
    # A busy poll of 0.1 s after each request: the limit is still held just after a reply, and
    # withdrawn once the request thread has gone to sleep.
    mp, _ = mounter.mount(image, "--cpu-latency", str(LIMIT_US), "--busy-poll", "100000")
    assert wait_for(lambda: effective_limit_us() == unlimited, 5.0)
    os.stat(os.path.join(mp, "a.bin"))
    held = effective_limit_us()
    t0 = time.monotonic()
    assert wait_for(lambda: effective_limit_us() == unlimited, 5.0)
    assert held == LIMIT_US and time.monotonic() - t0 < 5.0


def test_a_mount_without_busy_polling_withdraws_the_limit_as_soon_as_it_sleeps(image, mounter,
                                                                             unlimited):
    mp, _ = mounter.mount(image, "--cpu-latency", str(LIMIT_US), "--busy-poll", "0")
    for _ in range(3):
        os.stat(os.path.join(mp, "a.bin"))
        with open(os.path.join(mp, "a.bin"), "rb") as fh:
            assert len(fh.read()) == 4096
    assert wait_for(lambda: effective_limit_us() == unlimited, 1.0)


def test_an_unmounted_server_leaves_no_limit_behind(image, mounter, cli, unlimited):
    mp, _ = mounter.mount(image, "--cpu-latency", str(LIMIT_US), "--busy-poll", "100000")
    os.stat(os.path.join(mp, "a.bin"))
    assert cli("umount", mp).returncode == 0
    assert effective_limit_us() == unlimited


@pytest.mark.parametrize("value", ["-1", str(MAX_LIMIT_US + 1), "soon"])
def test_mount_refuses_a_cpu_latency_out_of_range(image, mounter, cli, value):
    proc = cli("mount", "--cpu-latency", value, image, mounter.mountpoint())
    assert proc.returncode == 2 and "--cpu-latency" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_holding_sets_the_limit_for_the_block_and_drops_it_after(unlimited):
    with holding(LIMIT_US) as request:
        assert request.held and effective_limit_us() == LIMIT_US
    assert effective_limit_us() == unlimited
