"""Named random streams: reproducible, independent across streams and items, SeedSequence-defined."""

from __future__ import annotations

import numpy as np
import pytest

from mammoeval.core.errors import ConfigError
from mammoeval.core.seeding import Stream, check_seed, numpy_rng, seed_sequence, stream_seed, torch_generator


def test_stream_seed_is_the_seed_sequence_state() -> None:
    ss = np.random.SeedSequence(7, spawn_key=(int(Stream.SWD_DIRECTIONS), 3))
    assert stream_seed(7, Stream.SWD_DIRECTIONS, 3) == int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    assert 0 <= stream_seed(7, Stream.SWD_DIRECTIONS, 3) < 2**63


def test_same_inputs_repeat_and_any_change_differs() -> None:
    base = stream_seed(1, Stream.FEATURES_FID, 0)
    assert stream_seed(1, Stream.FEATURES_FID, 0) == base
    others = {stream_seed(2, Stream.FEATURES_FID, 0), stream_seed(1, Stream.KID_SUBSETS, 0),
              stream_seed(1, Stream.FEATURES_FID, 1), stream_seed(1, Stream.FEATURES_FID, 0, 0)}
    assert base not in others and len(others) == 4
    a, b = numpy_rng(1, Stream.FEATURES_PRDC, 2).random(4), numpy_rng(1, Stream.FEATURES_PRDC, 2).random(4)
    np.testing.assert_array_equal(a, b)
    assert torch_generator(1, Stream.TRAIN_STEP, 5).initial_seed() == stream_seed(1, Stream.TRAIN_STEP, 5)


def test_stream_values_are_unique() -> None:
    values = [int(s) for s in Stream]
    assert len(values) == len(set(values))


def test_negative_seeds_are_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        seed_sequence(-1, Stream.PHANTOM_IMAGE)
    assert seed_sequence(0, Stream.PHANTOM_IMAGE).spawn_key == (int(Stream.PHANTOM_IMAGE),)


@pytest.mark.parametrize("bad", [-1, -(2**40), 1.5, "3", True, None])
def test_check_seed_refuses_what_is_not_a_non_negative_integer_in_one_line(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^--seed must be an integer >= 0, got ") as e:
        check_seed(bad, "--seed")
    assert "\n" not in str(e.value)
    assert check_seed(0) == 0 and check_seed(np.int64(7)) == 7

