import numpy as np
import pytest

from edgellm.bench.stats import percentile, summarize


@pytest.mark.parametrize("seed,n", [(0, 1), (1, 2), (2, 7), (3, 100), (4, 1001)])
def test_summarize_matches_numpy(seed, n):
    times = np.random.default_rng(seed).lognormal(mean=1.0, sigma=0.4, size=n).tolist()
    s = summarize(times)
    assert s.p50 == pytest.approx(np.percentile(times, 50), rel=1e-12)
    assert s.p90 == pytest.approx(np.percentile(times, 90), rel=1e-12)
    assert s.p99 == pytest.approx(np.percentile(times, 99), rel=1e-12)
    assert s.mean == pytest.approx(np.mean(times), rel=1e-12)
    assert s.std == pytest.approx(np.std(times, ddof=1) if n > 1 else 0.0, rel=1e-12, abs=1e-15)
    assert (s.min, s.max, s.count) == (min(times), max(times), n)


def test_worked_example_from_docstring():
    s = summarize([4.0, 1.0, 3.0, 2.0])
    assert (s.p50, s.p90, s.mean) == (2.5, pytest.approx(3.7), 2.5)
    assert s.std == pytest.approx(1.2909944, rel=1e-6)


def test_to_dict_has_the_stable_latency_keys():
    assert set(summarize([1.0, 2.0]).to_dict()) == {"p50", "p90", "p99", "mean", "std", "min", "max"}


def test_empty_and_out_of_range():
    with pytest.raises(ValueError, match="no timings"):
        summarize([])
    with pytest.raises(ValueError, match="within 0..100"):
        percentile([1.0], 101)
