"""A CPU latency QoS request (Linux PM QoS), which a mount may hold while it serves.

An open descriptor of /dev/cpu_dma_latency is one request. Writing a signed 32-bit value (in
microseconds, native byte order) sets the longest time it allows any CPU to take to wake from
idle; writing -1 (PM_QOS_DEFAULT_VALUE) withdraws the limit. The kernel obeys the lowest limit of
all requests, and drops a request when its descriptor is closed, or its process dies. With a
limit of 0, an idle CPU polls instead of halting, so the wake-up of a thread waiting for a reply
is immediate. On a virtual machine a halted CPU is woken through the host, which costs tens of
microseconds on each round trip. (See the kernel's Documentation/power/pm_qos_interface.rst.)
Opening the device needs root.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

CPU_LATENCY_DEVICE = "/dev/cpu_dma_latency"
NO_LIMIT = -1
"""The value that withdraws a request's limit (PM_QOS_DEFAULT_VALUE)."""
MAX_LIMIT_US = 2_000_000_000
"""The largest limit in microseconds (PM_QOS_CPU_LATENCY_DEFAULT_VALUE: no limit at all)."""
_VALUE = struct.Struct("=i")


class CpuLatencyRequest:
    """One request, open for the life of this object. It starts withdrawn: `hold` sets its limit
    to `limit_us` microseconds, `release` withdraws it again, and each writes only when the
    state changes. Raises OSError (with its errno) if the device cannot be opened. A write
    that fails later closes the request for good (`error` says why): it is a hint to the
    kernel, never a reason to stop serving. Safe to close from another thread than the one that
    holds and releases it (the descriptor is never written after it is closed)."""

    def __init__(self, limit_us: int, path: str = CPU_LATENCY_DEVICE) -> None:
        if not 0 <= limit_us <= MAX_LIMIT_US:
            raise ValueError(f"CPU latency limit {limit_us} us: must be 0 to {MAX_LIMIT_US}")
        self.limit_us = limit_us
        self.path = path
        self.held = False
        self.error: OSError | None = None
        self._hold = _VALUE.pack(limit_us)
        self._release = _VALUE.pack(NO_LIMIT)
        self._lock = threading.Lock()
        self._fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)

    def hold(self) -> None:
        """Set the limit (nothing to do if it is set already, or the request is closed)."""
        if not self.held and self._fd >= 0:
            with self._lock:
                if self._fd >= 0:
                    self._write(self._hold)
                    self.held = self._fd >= 0

    def release(self) -> None:
        """Withdraw the limit (nothing to do if it is withdrawn already)."""
        if self.held:
            with self._lock:
                if self.held:
                    self._write(self._release)
                    self.held = False

    def _write(self, value: bytes) -> None:
        try:
            os.write(self._fd, value)
        except OSError as exc:
            self.error = exc
            self._close()

    def close(self) -> None:
        """Drop the request (the kernel forgets its limit)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self.held = False


@contextmanager
def holding(limit_us: int, path: str = CPU_LATENCY_DEVICE) -> Iterator[CpuLatencyRequest]:
    """A request of `limit_us` held for the block, then dropped (OSError as CpuLatencyRequest)."""
    request = CpuLatencyRequest(limit_us, path)
    request.hold()
    try:
        yield request
    finally:
        request.close()


def effective_limit_us(path: str = CPU_LATENCY_DEVICE) -> int:
    """The limit the kernel obeys now: the lowest of all requests, MAX_LIMIT_US if none."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        value: int = _VALUE.unpack(os.read(fd, _VALUE.size))[0]
        return value
    finally:
        os.close(fd)
