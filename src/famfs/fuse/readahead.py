"""Listings read ahead: once a directory has been listed to its end, the children of its
subdirectories are loaded on a background thread, in the order they were listed.

A walk of a tree (ls -R, find, os.walk) lists the subdirectories of the directory it just
listed next. Loading a directory's children from the log (reading the heads of their entries)
is most of the server's work for a listing; done ahead, it overlaps the time the kernel spends
taking in the listing before (it makes a dentry and an inode for every entry of a
READDIRPLUS reply), and the next listing finds its children loaded. What is loaded is exactly
what a listing would load, under the same lock; a directory never listed costs memory only.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable

from famfs.fs.namespace import Directory

MAX_QUEUED = 4096
"""Directories waiting to be loaded at most; later ones are left to their own listing."""


class ListingReadahead:
    """Loads `Directory.children` of queued directories on one daemon thread, each under
    `lock` (the lock every reader of the namespace holds)."""

    def __init__(self, lock: threading.RLock | threading.Lock) -> None:
        self.lock = lock
        self._queue: deque[Directory] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.loaded = 0
        """Directories this has loaded (each would otherwise have been loaded by a listing)."""

    def queue(self, directories: Iterable[Directory]) -> None:
        """Load the children of `directories` soon, in this order; those loaded already, or
        beyond MAX_QUEUED waiting, are skipped."""
        todo = [d for d in directories if not d.loaded]
        if not todo:
            return
        with self._wake:
            if self._stopping:
                return
            room = MAX_QUEUED - len(self._queue)
            self._queue.extend(todo[:max(0, room)])
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="famfs-readahead",
                                                daemon=True)
                self._thread.start()
            self._wake.notify()

    def close(self) -> None:
        """Stop the thread (what it is loading is finished first)."""
        with self._wake:
            self._stopping = True
            self._queue.clear()
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                directory = self._queue.popleft()
            prepared = directory.prepare()
            with self.lock:
                if not directory.loaded:
                    directory.load(prepared)
                    self.loaded += 1
