"""A pool of worker processes for per-image work, and one ordered, bounded map over it.

`ordered_map(fn, items, workers=N)` returns ``fn(item)`` for every item, in item order, like the
built-in `map`, with the calls spread over N worker processes. It streams: items are pulled from
the iterable only as results are taken, and at most `max_in_flight` chunks (default 2 per
worker) are submitted and not yet taken, so memory stays bounded whatever the number of items.
With one worker (and no pool) the calls run in this process, with no pool at all.

Workers run one compute thread each (torch, OpenMP and BLAS limited to 1), so N workers use N
cores and never spin against each other. With one worker the calls run here under the same limit
(`one_thread`), so results are the same whatever the number of workers, to the byte. They start
with the "forkserver" method where it exists ("spawn" elsewhere): never a plain fork of a
process that may hold torch or CUDA threads. Starting costs a fraction of a second per worker
(imports), so a `WorkerPool` is meant to be opened once and reused (e.g. for every checkpoint of
a run); `fn` and the items must be picklable (module-level functions, plain data).

An exception raised by `fn` in a worker is raised again here, by `ordered_map`, when its item's
turn comes, as itself; errors that cannot be pickled at all come back as
`WorkerError` with the original one-line message; errors whose constructor takes other arguments
than their `args` (such as `BadInputError(path, reason)`) are rebuilt with their attributes.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

import torch
from threadpoolctl import threadpool_limits

from mammoeval.core.errors import ConfigError, MammoevalError

T = TypeVar("T")
R = TypeVar("R")

_PRELOAD = ("numpy", "torch", "scipy.ndimage")
"""Modules the forkserver imports before it forks workers (importing torch takes seconds)."""
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


class WorkerError(MammoevalError):
    """A worker failed with an error that could not be sent back as itself; carries its message."""


def default_workers() -> int:
    """Return the number of cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | None) -> int:
    """Return `workers`, or `default_workers()` for None.

    Raises:
        ConfigError: workers < 1.
    """
    if workers is None:
        return default_workers()
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    return workers


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with torch and BLAS held to one thread, as in a worker (results equal a worker's:
    a reduction split over several threads may round differently)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def _init_worker() -> None:
    """Hold every compute library of a worker process to one thread."""
    for name in _THREAD_ENV:
        os.environ[name] = "1"
    torch.set_num_threads(1)
    threadpool_limits(limits=1)


def _run_chunk(fn: Callable[[Any], Any], chunk: list[Any]) -> tuple[bool, Any]:
    """Return (True, [fn(x) for x in chunk]) or (False, the error in a picklable form)."""
    try:
        return True, [fn(x) for x in chunk]
    except Exception as exc:  # noqa: BLE001 - every error is raised again in the parent
        return False, _portable(exc)


def _portable(exc: Exception) -> Any:
    """Return `exc` itself when it pickles, else (class, args, attributes) to rebuild it from."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - e.g. an __init__ whose arguments differ from `args`
        pass
    try:
        state = (type(exc), exc.args, dict(vars(exc)))
        pickle.dumps(state)
        return state
    except Exception:  # noqa: BLE001
        return WorkerError(f"{type(exc).__name__}: {exc}")


def _rebuilt(value: Any) -> BaseException:
    """Return the exception `_portable` made portable."""
    if isinstance(value, BaseException):
        return value
    cls, args, attrs = value
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(attrs)
    return exc


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


class WorkerPool(AbstractContextManager["WorkerPool"]):
    """`workers` processes, started on first use and kept until `close()` (or the end of a with block).

    Args:
        workers: number of processes (None = `default_workers()`). 1 = no processes: `map` runs
            in this process.
        preload: more modules for the forkserver to import before it forks the workers (only the
            first pool of a process starts the forkserver, so only its list counts).
    """

    def __init__(self, workers: int | None = None, *, preload: tuple[str, ...] = ()) -> None:
        self.workers = resolve_workers(workers)
        self._preload = (*_PRELOAD, *preload)
        self._executor: ProcessPoolExecutor | None = None

    @property
    def in_process(self) -> bool:
        """Whether work runs in this process (one worker)."""
        return self.workers <= 1

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            ctx = multiprocessing.get_context(_start_method())
            if ctx.get_start_method() == "forkserver":
                # Workers fork from a server that has imported these once: each starts in milliseconds.
                ctx.set_forkserver_preload(list(self._preload))
            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker)
        return self._executor

    def start(self) -> WorkerPool:
        """Start the worker processes now (otherwise the first `map` does); return self."""
        if not self.in_process:
            futures = [self._pool().submit(os.getpid) for _ in range(self.workers)]
            for f in futures:
                f.result()
        return self

    def worker_pids(self) -> list[int]:
        """Return the process ids of the running workers (empty before the first use and in-process)."""
        procs = getattr(self._executor, "_processes", None) or {}
        return sorted(int(pid) for pid in procs)

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, chunk: int = 1,
            max_in_flight: int | None = None) -> Iterator[R]:
        """Yield `fn(item)` for every item, in item order (see the module docstring).

        Args:
            fn: a picklable (module-level) function of one item.
            items: any iterable; pulled lazily.
            chunk: items per task sent to a worker (amortises the transfer of small items).
            max_in_flight: chunks submitted and not yet yielded (None = 2 per worker).
        """
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        if self.in_process:
            for x in items:
                with one_thread():
                    result = fn(x)
                yield result
            return
        limit = max(1, max_in_flight if max_in_flight is not None else 2 * self.workers)
        pending: deque[Future[tuple[bool, Any]]] = deque()
        source = iter(items)
        pool = self._pool()
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < limit:
                    part = list(itertools.islice(source, chunk))
                    if not part:
                        exhausted = True
                        break
                    pending.append(pool.submit(_run_chunk, fn, part))
                if not pending:
                    return
                try:
                    ok, value = pending.popleft().result()
                except BrokenProcessPool:
                    self.close()
                    raise WorkerError("a worker process died (out of memory, or killed); "
                                      "run again with --workers 1 to see the error here") from None
                if not ok:
                    raise _rebuilt(value)
                yield from value
        finally:
            for f in pending:  # a consumer that stops early or an error: drop what is queued
                f.cancel()

    def close(self) -> None:
        """Stop the worker processes (waits for running tasks)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __exit__(self, *exc: object) -> None:
        self.close()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = 1, chunk: int = 1,
                max_in_flight: int | None = None, pool: WorkerPool | None = None) -> Iterator[R]:
    """Yield `fn(item)` for every item, in order, over `pool` or over a pool of `workers` opened for this call.

    Args:
        fn: a picklable (module-level) function of one item.
        items: any iterable; pulled lazily, at most `max_in_flight` chunks ahead of the consumer.
        workers: processes when no `pool` is given (None = the machine's cores; 1 = this process).
        chunk: items per task.
        max_in_flight: chunks submitted and not yet yielded (None = 2 per worker).
        pool: an open `WorkerPool` to reuse (then `workers` is ignored).
    """
    if pool is not None:
        yield from pool.map(fn, items, chunk=chunk, max_in_flight=max_in_flight)
        return
    with WorkerPool(workers) as own:
        yield from own.map(fn, items, chunk=chunk, max_in_flight=max_in_flight)
