"""`pools.ordered_map`: results in job order; a finished pool's workers exit on their own (no SIGTERM),
and an error in a worker reaches the caller and ends the pool."""

from __future__ import annotations

import os
import signal

import pytest

from lumabench.pools import ordered_map


def _square(x: int) -> int:
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def _ignore_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a worker that SIGTERM cannot stop


def _pid(_: int) -> int:
    return os.getpid()


def test_results_come_in_job_order() -> None:
    assert list(ordered_map(_square, range(40), workers=2, chunksize=3)) == [x * x for x in range(40)]


def test_a_finished_pool_ends_without_terminating_its_workers() -> None:
    """Workers that ignore SIGTERM: `Pool.terminate()` (what `with Pool()` does on exit) would wait on
    them forever; closing a pool whose work is done lets them exit."""
    pids = list(ordered_map(_pid, range(8), workers=2, initializer=_ignore_sigterm))
    assert len(pids) == 8
    for pid in set(pids):  # reaped by the join: no such process any more
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_an_error_in_a_worker_reaches_the_caller() -> None:
    with pytest.raises(ValueError, match="three"):
        list(ordered_map(_fail_on_three, range(8), workers=2))


def test_workers_zero_means_every_core_this_process_may_use() -> None:
    import os

    from lumabench.pools import workers

    assert workers(3) == 3
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert workers(0) == usable >= 1
