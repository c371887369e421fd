"""The worker pool: ordered results, bounded look-ahead, errors raised as themselves, one worker in-process."""

from __future__ import annotations

import os

import pytest

from mammoeval.core.errors import BadInputError, ConfigError
from mammoeval.core.pool import WorkerPool, default_workers, ordered_map, resolve_workers


def square(x: int) -> int:
    return x * x


def pid_and_threads(_: int) -> tuple[int, int, str]:
    import torch

    return os.getpid(), torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS", "")


def fail_on_three(x: int) -> int:
    if x == 3:
        raise BadInputError(f"img{x}.png", "cannot be decoded")
    return x


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(2) as p:
        yield p


def test_default_workers_is_the_affinity():
    assert default_workers() == len(os.sched_getaffinity(0))
    assert resolve_workers(None) == default_workers() and resolve_workers(3) == 3
    with pytest.raises(ConfigError, match="workers"):
        resolve_workers(0)


@pytest.mark.parametrize("chunk", [1, 3])
def test_ordered_map_equals_map_in_order(chunk, pool):
    items = list(range(23))
    assert list(pool.map(square, items, chunk=chunk)) == [x * x for x in items]
    assert list(pool.map(square, [])) == []
    again = list(ordered_map(square, iter(items), pool=pool))  # the pool is reused
    assert again == [x * x for x in items]
    assert list(ordered_map(square, items, workers=1)) == [x * x for x in items]


def test_items_are_pulled_lazily_with_bounded_look_ahead(pool):
    pulled: list[int] = []

    def source():
        for i in range(1000):
            pulled.append(i)
            yield i

    it = pool.map(square, source(), chunk=2, max_in_flight=3)
    assert next(it) == 0
    assert len(pulled) <= 2 * 3 + 1  # at most max_in_flight chunks ahead (+1 to see the end)
    it.close()
    assert len(pulled) < 1000


def test_workers_are_other_processes_with_one_thread(pool):
    out = list(pool.map(pid_and_threads, range(8)))
    assert all(pid != os.getpid() for pid, _, _ in out)
    assert {t for _, t, _ in out} == {1} and {e for _, _, e in out} == {"1"}
    assert [p for p, _, _ in list(ordered_map(pid_and_threads, [0], workers=1))] == [os.getpid()]


def test_worker_error_is_raised_as_itself_in_item_order(pool):
    got = []
    with pytest.raises(BadInputError, match="img3.png") as info:
        for x in pool.map(fail_on_three, range(8)):
            got.append(x)
    assert got == [0, 1, 2]
    assert info.value.reason == "cannot be decoded" and str(info.value.path) == "img3.png"
