"""Worker processes for the CPU-bound checks of signed meter readings (issue 14: every core).

An oracle node's per-reading work is mostly C (signature recovery, Keccak), but JSON decoding,
the checks and SQL around it hold Python's interpreter lock, so threads kept a node to about
1.4 cores. :class:`CheckWorkers` runs a *top-level* function over chunks of a list in worker
processes (``concurrent.futures.ProcessPoolExecutor``, ``spawn`` start method so a process with
threads — uvicorn, SQLAlchemy pools — is never forked) and returns the results in input order.
The calling process keeps everything that needs order or state (sequence checks, SQL, the
acknowledgement after the commit); the workers get plain tuples and return plain values.

Sizing: ``processes`` workers (default: :func:`default_processes`, the CPU count, or the
``CARBONLEDGER_CHECK_WORKERS`` environment variable; 0 runs everything in the calling thread).
Lists shorter than ``2 × min_chunk`` run in the calling thread — the same function, so the same
answers, without the inter-process round trip that would cost more than it saves.

The pool starts on first use and stops on :meth:`CheckWorkers.close` (or at interpreter exit);
:func:`shared_workers` is the one pool a process shares between its nodes and provenance checks.
A worker also ends by itself within :data:`PARENT_POLL_S` seconds once the process that started it
is gone — a node killed by SIGKILL (or by uvicorn re-raising SIGTERM after its shutdown, which
skips ``finally`` blocks) leaves no worker behind: the workers hold their own task pipe open, so
they would otherwise wait on it for ever.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Environment variable giving the number of check worker processes (0 = in the calling thread).
WORKERS_ENV = "CARBONLEDGER_CHECK_WORKERS"
#: Smallest chunk sent to a worker (a round trip costs about as much as checking ~50 readings).
MIN_CHUNK = 250
#: How often a worker checks that the process that started it is still there, seconds.
PARENT_POLL_S = 0.5


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: a daemon thread ends this worker (``os._exit``) once ``parent`` is no
    longer its parent process (it died and the worker was re-parented)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(0)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _worker_pid() -> int:
    """A worker's first task in :meth:`CheckWorkers.start`: its process id once it runs."""
    time.sleep(0.05)      # held briefly, so that each of the first tasks starts a worker of its own
    return os.getpid()


def default_processes() -> int:
    """Worker processes to use: ``$CARBONLEDGER_CHECK_WORKERS`` if set, else ``os.cpu_count()``.

    Raises:
        ValueError: the variable is set to something other than a non-negative integer.
    """
    raw = os.environ.get(WORKERS_ENV)
    if raw is None or raw == "":
        return os.cpu_count() or 1
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if n < 0:
        raise ValueError(f"{WORKERS_ENV} must be a non-negative integer, got {raw!r}")
    return n


class CheckWorkers:
    """A pool of worker processes mapping a function over chunks of a list, results in order.

    Args:
        processes: worker processes (None: :func:`default_processes`; 0: run in the calling thread).
        min_chunk: smallest chunk given to a worker; shorter lists run in the calling thread.

    Raises:
        ValueError: ``processes`` < 0 or ``min_chunk`` < 1.
    """

    def __init__(self, processes: int | None = None, min_chunk: int = MIN_CHUNK) -> None:
        n = default_processes() if processes is None else processes
        if n < 0 or min_chunk < 1:
            raise ValueError(f"need processes >= 0 and min_chunk >= 1, got {processes}, {min_chunk}")
        self.processes, self.min_chunk = n, min_chunk
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.chunks_in_workers = 0          # chunks run by worker processes (for tests and the bench)
        self.items_in_workers = 0

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_exit_with_parent, initargs=(os.getpid(),))
            return self._pool

    def start(self) -> list[int]:
        """Start every worker process now and wait until each answers (a service calls this at
        start-up, so that its first large batch does not wait for — nor pay — the workers' start:
        a spawned worker imports its modules anew, seconds of CPU on a busy machine).

        Returns the workers' process ids (empty with ``processes`` 0)."""
        if self.processes == 0:
            return []
        pool = self._executor()
        futures = [pool.submit(_worker_pid) for _ in range(self.processes)]
        return sorted({f.result() for f in futures})

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (empty before first use and after :meth:`close`)."""
        pool = self._pool
        return sorted(getattr(pool, "_processes", None) or {}) if pool is not None else []

    def map_chunks(self, fn: Callable[..., list[R]], items: Sequence[T], *args: Any) -> list[R]:
        """``fn(*args, items)`` computed over chunks of ``items`` in the worker processes.

        Args:
            fn: a module-level function (picklable by reference) returning one result per item,
                in order: ``fn(*args, chunk) -> list``. It must not depend on the calling
                process's state beyond its arguments.
            items: the inputs (picklable: plain tuples, bytes, ints, str).
            args: extra picklable arguments, the same for every chunk.

        Returns the concatenated results (``len(items)`` of them, in input order).

        Raises:
            whatever ``fn`` raises; ``BrokenProcessPool`` if a worker died twice in a row (the
            pool is restarted once after a first death, e.g. a worker killed by the OOM killer).
        """
        n = len(items)
        if self.processes == 0 or n < 2 * self.min_chunk:
            return fn(*args, items)
        parts = min(self.processes, n // self.min_chunk)
        bounds = [n * i // parts for i in range(parts + 1)]
        chunks = [items[bounds[i]:bounds[i + 1]] for i in range(parts)]
        for attempt in (1, 2):
            pool = self._executor()
            try:
                futures = [pool.submit(fn, *args, chunk) for chunk in chunks]
                out: list[R] = []
                for f in futures:
                    out.extend(f.result())
            except BrokenProcessPool:
                with self._lock:
                    if self._pool is pool:
                        self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                if attempt == 2:
                    raise
                continue
            self.chunks_in_workers += parts
            self.items_in_workers += n
            return out
        raise AssertionError("unreachable")  # pragma: no cover

    def map_each(self, fn: Callable[..., R], tasks: Sequence[T], *args: Any) -> list[R]:
        """``[fn(*args, task) for task in tasks]`` with each task in a worker process (one task in
        the calling thread, or all of them when ``processes`` is 0), results in task order.

        For work the caller has already cut into pieces (an oracle node's raw request body,
        :func:`oracles.checks.split_wire_items`); ``fn`` and ``args`` as :meth:`map_chunks`.

        Raises:
            whatever ``fn`` raises; ``BrokenProcessPool`` as :meth:`map_chunks`.
        """
        if self.processes == 0 or len(tasks) < 2:
            return [fn(*args, task) for task in tasks]
        for attempt in (1, 2):
            pool = self._executor()
            try:
                futures = [pool.submit(fn, *args, task) for task in tasks]
                out = [f.result() for f in futures]
            except BrokenProcessPool:
                with self._lock:
                    if self._pool is pool:
                        self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                if attempt == 2:
                    raise
                continue
            self.chunks_in_workers += len(tasks)
            return out
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Stop the worker processes (waits for running chunks); the pool restarts on next use."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> CheckWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_shared: CheckWorkers | None = None
_shared_lock = threading.Lock()


def shared_workers() -> CheckWorkers:
    """The process-wide pool (:func:`default_processes` workers), started on first use and
    stopped at interpreter exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = CheckWorkers()
            atexit.register(_shared.close)
        return _shared
