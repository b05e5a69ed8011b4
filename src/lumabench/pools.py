"""Process pools that end the way their work ended.

`multiprocessing.Pool` used as a context manager calls `terminate()` on exit, even after every result
is in: each worker gets SIGTERM wherever it happens to be, and a worker caught inside a blocking call
that does not return to Python (seen once in the audio stage's pool) never dies, so the parent waits
on it forever. Here a pool whose work is done is closed and joined (each worker reads the end-of-work
sentinel and exits on its own); only an error or an interrupt terminates it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def workers(n: int) -> int:
    """A `workers` setting as a process count: 0 means every core this process may use."""
    if n > 0:
        return n
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def fork_or_spawn() -> BaseContext:
    """fork (workers start in milliseconds and inherit loaded state) where it exists, else spawn."""
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def ordered_map(
    fn: Callable[[T], R],
    jobs: Iterable[T],
    workers: int,
    ctx: BaseContext | None = None,
    chunksize: int = 1,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[R]:
    """`fn` over `jobs` in `workers` processes, results in job order, as they arrive."""
    pool = (ctx or fork_or_spawn()).Pool(workers, initializer=initializer, initargs=initargs)
    try:
        yield from pool.imap(fn, jobs, chunksize=chunksize)
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()
    finally:
        pool.join()
