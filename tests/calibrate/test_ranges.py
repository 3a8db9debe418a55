"""Range estimation, the linear quantization formula, TFLite quant params and the stats JSON."""

import json
import math

import numpy as np
import pytest

from edgellm.calibrate import (
    QuantParams,
    RangeConfig,
    RangeEstimator,
    TensorStats,
    dequantize,
    estimate_range,
    linear_quantize,
    load_stats,
    quant_params,
    save_stats,
    to_qsvs,
)
from edgellm.calibrate.ranges import MIN_SCALE
from edgellm.errors import CalibrationError, ConfigError


@pytest.fixture(scope="module")
def outlier_data() -> np.ndarray:
    """The module docstring's example: 1,000,000 standard-normal values, one outlier at 100."""
    x = np.random.default_rng(0).standard_normal(1_000_000)
    x[0] = 100.0
    return x


def collect(x: np.ndarray, config: RangeConfig, batches: int = 10) -> TensorStats:
    est = RangeEstimator(config)
    for chunk in np.array_split(x, batches):
        est.update("t", chunk)
    return est.finalize()["t"]


def quant_mse(x: np.ndarray, lo: float, hi: float, bits: int = 8) -> float:
    return float(np.mean((x - dequantize(linear_quantize(x, lo, hi, bits), lo, hi, bits)) ** 2))


# ---------------------------------------------------------------------------------------------------------------------
# formula


def test_linear_quantize_by_hand():
    # x in [-1, 3], b = 8: q = round((x + 1) / 4 * 255), ties up, saturating
    x = np.array([-1.0, 0.0, 1.0, 3.0, 5.0, -2.0, 0.5])
    # by hand: 0, 63.75 -> 64, 127.5 -> 128, 255, clip 255, clip 0, 95.625 -> 96
    assert linear_quantize(x, -1.0, 3.0, 8).tolist() == [0, 64, 128, 255, 255, 0, 96]
    assert linear_quantize(1.0, -1.0, 3.0, 8) == 128
    # 4 bits: 15 levels; x = 1 -> round(7.5) = 8; x = 0 -> round(3.75) = 4
    assert linear_quantize([1.0, 0.0], -1.0, 3.0, 4).tolist() == [8, 4]
    # ties round up, not to even: on [0, 255] the code is round(x); 126.5 -> 127 and 0.5 -> 1 (np.round gives 126, 0)
    assert linear_quantize([126.5, 0.5, 2.5], 0.0, 255.0, 8).tolist() == [127, 1, 3]


def test_linear_quantize_matches_formula_on_random_values():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 5, size=1000)
    lo, hi, b = -2.0, 5.0, 8
    expected = [math.floor((v - lo) / (hi - lo) * (2**b - 1) + 0.5) for v in x]
    assert linear_quantize(x, lo, hi, b).tolist() == expected


def test_dequantize_inverts_within_half_a_step():
    x = np.linspace(-1, 3, 1001)
    step = 4 / 255
    back = dequantize(linear_quantize(x, -1, 3, 8), -1, 3, 8)
    assert np.abs(back - x).max() <= step / 2 + 1e-12
    assert dequantize(128, -1, 3, 8) == pytest.approx(-1 + 128 * 4 / 255)  # 1.00784


@pytest.mark.parametrize(("args", "match"), [((0, 1, 1), "bits must be an integer from 2 to 16"),
                                             ((0, 1, 17), "bits must be an integer from 2 to 16"),
                                             ((1, 1, 8), "need finite x_min < x_max"),
                                             ((2, 1, 8), "need finite x_min < x_max"),
                                             ((0, math.inf, 8), "need finite x_min < x_max")])
def test_formula_argument_errors(args, match):
    with pytest.raises(ConfigError, match=match):
        linear_quantize([0.5], *args)


def test_int8_params_worked_example():
    p = quant_params(-1.0, 3.0)
    assert p == QuantParams(scale=4 / 255, zero_point=-64, dtype="int8", qmin=-128, qmax=127)
    assert p.quantize([1.0, 0.0, -1.0, 3.0, 10.0]).tolist() == [0, -64, -128, 127, 127]
    assert p.dequantize(-64) == 0.0  # zero is exact
    # TFLite int8 codes are linear_quantize - 128, up to the rounded zero point (off by at most 1)
    x = np.random.default_rng(2).uniform(-1, 3, 10_000)
    diff = p.quantize(x) - (linear_quantize(x, -1.0, 3.0, 8) - 128)
    assert np.abs(diff).max() <= 1


def test_int8_range_is_widened_to_contain_zero():
    p = quant_params(2.0, 5.0)  # all positive -> [0, 5]
    assert p.zero_point == -128 and p.scale == pytest.approx(5 / 255)
    assert p.dequantize(p.quantize(0.0)) == 0.0


def test_int16_params_symmetric():
    p = quant_params(-1.0, 3.0, "int16")
    assert (p.zero_point, p.qmin, p.qmax) == (0, -32767, 32767)
    assert p.scale == pytest.approx(3 / 32767)
    assert p.quantize(1.0) == 10922  # round(10922.33)
    assert p.quantize(-5.0) == -32767
    with pytest.raises(ConfigError, match="int16 quantization is symmetric in TFLite"):
        quant_params(-1.0, 3.0, "int16", symmetric=False)


def test_int8_symmetric_and_degenerate_ranges():
    p = quant_params(-1.0, 3.0, "int8", symmetric=True)
    assert (p.zero_point, p.qmin, p.qmax, p.scale) == (0, -127, 127, pytest.approx(3 / 127))
    zero = quant_params(0.0, 0.0)
    assert zero.scale == MIN_SCALE and zero.dequantize(zero.quantize(0.0)) == 0.0
    with pytest.raises(ConfigError, match="dtype 'uint8' is not supported; use 'int8' or 'int16'"):
        quant_params(0, 1, "uint8")


# ---------------------------------------------------------------------------------------------------------------------
# estimator


def test_minmax_is_plain_min_max_across_batches():
    est = RangeEstimator()
    est.update("h", np.array([0.0, 1.0]))
    est.update("h", np.array([[-2.0, 0.5]]))
    for _ in range(20):  # many ordinary batches: a moving average would pull the range in; plain min/max must not
        est.update("h", np.array([0.1, 0.2]))
    s = est.finalize()["h"]
    assert (s.min, s.max, s.range_min, s.range_max) == (-2.0, 1.0, -2.0, 1.0)
    assert (s.count, s.num_batches, s.ndim, s.kind, s.histogram) == (44, 22, 1, "minmax", None)


def test_update_all_and_names_keep_order():
    est = RangeEstimator()
    est.update_all({"b": np.ones((2, 3)), "a": np.zeros(4, dtype=np.int32)})
    est.update("b", np.empty((0, 3)))  # empty batches are ignored
    stats = est.finalize()
    assert est.names == ("b", "a") and list(stats) == ["b", "a"]
    assert stats["b"].ndim == 2 and stats["b"].count == 6 and stats["b"].num_batches == 1


def test_torch_tensors_are_accepted():
    import torch

    est = RangeEstimator()
    est.update("t", torch.tensor([[-3.0, 2.0]], dtype=torch.bfloat16))
    assert (est.finalize()["t"].range_min, est.finalize()["t"].range_max) == (-3.0, 2.0)


def test_percentile_clips_both_tails(outlier_data):
    x = outlier_data
    s = collect(x, RangeConfig(kind="percentile", percentile=99.99))
    width = (x.max() - x.min()) / 2048
    lo, hi = np.percentile(x, [0.01, 99.99])
    assert s.range_min == pytest.approx(lo, abs=width) and s.range_max == pytest.approx(hi, abs=width)
    assert (s.min, s.max) == (x.min(), 100.0)  # the observed range stays exact
    assert s.range_max - s.range_min < 0.1 * (s.max - s.min)
    assert quant_mse(x, s.range_min, s.range_max) < quant_mse(x, s.min, s.max)


def test_percentile_100_is_minmax(outlier_data):
    s = collect(outlier_data, RangeConfig(kind="percentile", percentile=100.0))
    assert (s.range_min, s.range_max) == pytest.approx((s.min, s.max))


def test_mse_narrower_than_minmax_with_lower_error(outlier_data):
    x = outlier_data
    minmax = collect(x, RangeConfig())
    pct = collect(x, RangeConfig(kind="percentile"))
    mse = collect(x, RangeConfig(kind="mse", bits=8))
    assert mse.range_min <= 0.0 <= mse.range_max
    assert minmax.range_min <= mse.range_min and mse.range_max < 0.5 * minmax.range_max
    e_minmax = quant_mse(x, minmax.range_min, minmax.range_max)
    e_pct = quant_mse(x, pct.range_min, pct.range_max)
    e_mse = quant_mse(x, mse.range_min, mse.range_max)
    assert e_mse < e_pct < e_minmax
    # the numbers quoted in the ranges.py module docstring
    assert (round(minmax.range_min, 2), round(minmax.range_max, 2), round(e_minmax, 4)) == (-4.68, 100.0, 0.014)
    assert (round(pct.range_min, 2), round(pct.range_max, 2), round(e_pct, 4)) == (-3.72, 3.74, 0.0094)
    assert (round(mse.range_min, 2), round(mse.range_max, 2), round(e_mse, 4)) == (-3.48, 41.87, 0.006)


def test_mse_is_near_the_true_optimum(outlier_data):
    """Brute force over a grid of high ends with the low end fixed: the search should be within 2% of the best."""
    x = outlier_data
    mse = collect(x, RangeConfig(kind="mse", bits=8))
    best = min(quant_mse(x, mse.range_min, h) for h in np.linspace(5, 100, 40))
    assert quant_mse(x, mse.range_min, mse.range_max) <= 1.02 * best


def test_mse_without_outliers_keeps_most_of_the_range():
    x = np.random.default_rng(3).uniform(-1, 1, 200_000)  # uniform: clipping only hurts
    s = collect(x, RangeConfig(kind="mse", bits=8))
    assert s.range_min < -0.97 and s.range_max > 0.97


def test_mse_symmetric_more_bits_clip_less(outlier_data):
    s8 = collect(outlier_data, RangeConfig(kind="mse", bits=8, symmetric=True))
    s16 = collect(outlier_data, RangeConfig(kind="mse", bits=16, symmetric=True))
    assert s8.range_min == -s8.range_max and s16.range_min == -s16.range_max
    assert s8.range_max < s16.range_max and s16.range_max > 99.0  # 16 bits are fine enough to keep the outlier


def test_histogram_does_not_depend_much_on_batching(outlier_data):
    one = collect(outlier_data, RangeConfig(kind="percentile"), batches=1)
    many = collect(np.random.default_rng(4).permutation(outlier_data), RangeConfig(kind="percentile"), batches=50)
    width = (outlier_data.max() - outlier_data.min()) / 2048
    assert one.range_max == pytest.approx(many.range_max, abs=2 * width)
    assert one.range_min == pytest.approx(many.range_min, abs=2 * width)


def test_constant_tensor():
    for kind in ("minmax", "percentile", "mse"):
        est = RangeEstimator(RangeConfig(kind=kind))
        est.update("c", np.full(100, 5.0))
        s = est.finalize()["c"]
        assert s.min == s.max == 5.0
        if kind == "mse":
            assert (s.range_min, s.range_max) == pytest.approx((0.0, 5.0))  # int8 ranges contain 0
        else:
            assert (s.range_min, s.range_max) == (5.0, 5.0)
        est = RangeEstimator(RangeConfig(kind=kind))
        est.update("z", np.zeros(10))
        assert (est.finalize()["z"].range_min, est.finalize()["z"].range_max) == (0.0, 0.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_name_the_tensor(bad):
    est = RangeEstimator(RangeConfig(kind="percentile"))
    est.update("encoder.layer.0.output", np.ones(4))
    values = np.ones(8)
    values[[2, 5]] = bad
    with pytest.raises(
        CalibrationError, match=r"tensor 'encoder\.layer\.0\.output' has 2 NaN/inf values in calibration batch 2"
    ) as e:
        est.update("encoder.layer.0.output", values)
    assert "\n" not in str(e.value)


def test_finalize_without_data():
    with pytest.raises(CalibrationError, match=r"no activations were recorded; call update"):
        RangeEstimator().finalize()


def test_minmax_stats_cannot_give_percentile():
    est = RangeEstimator()
    est.update("t", np.arange(10.0))
    with pytest.raises(CalibrationError, match=r"tensor 't' have no histogram \(collected with kind='minmax'\)"):
        estimate_range(est.finalize()["t"], RangeConfig(kind="percentile"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "ema"}, "range kind 'ema' is not supported; supported: minmax, percentile, mse"),
        ({"percentile": 40}, r"percentile must be in \(50, 100\]"),
        ({"percentile": 100.5}, r"percentile must be in \(50, 100\]"),
        ({"bits": 32}, "bits must be an integer from 2 to 16"),
        ({"num_bins": 4}, "num_bins must be an integer from 16"),
    ],
)
def test_range_config_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RangeConfig(**kwargs)


def test_range_config_roundtrip():
    c = RangeConfig(kind="mse", bits=16, symmetric=True, num_bins=512)
    assert RangeConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(ConfigError, match="unknown RangeConfig fields: bins"):
        RangeConfig.from_dict({"bins": 3})


# ---------------------------------------------------------------------------------------------------------------------
# JSON


def test_stats_json_roundtrip_and_reuse_for_another_recipe(tmp_path, outlier_data):
    est = RangeEstimator(RangeConfig(kind="mse", bits=8))
    for chunk in np.array_split(outlier_data, 4):
        est.update("attn.out", chunk)
        est.update("ffn.in", np.abs(chunk[:1000]))
    stats = est.finalize()
    path = save_stats(tmp_path / "sub" / "stats.json", stats)
    assert path.is_file() and not list(path.parent.glob(".*.tmp"))
    loaded = load_stats(path)
    assert loaded == stats  # every field, histogram counts included
    # int16x8 recipe from the same file, no model run
    for name, s in loaded.items():
        for config in (RangeConfig(kind="mse", bits=16, symmetric=True), RangeConfig(kind="percentile")):
            assert estimate_range(s, config) == estimate_range(stats[name], config)
    doc = json.loads(path.read_text())
    assert doc["format"] == "edgellm-calibration-stats" and doc["version"] == 1
    assert set(doc["tensors"]) == {"attn.out", "ffn.in"}


def test_minmax_stats_roundtrip(tmp_path):
    est = RangeEstimator()
    est.update("x", np.array([[-1.5, 2.25]], dtype=np.float32))
    stats = est.finalize()
    assert load_stats(save_stats(tmp_path / "s.json", stats)) == stats
    assert stats["x"].quant_params("int8") == quant_params(-1.5, 2.25)


def test_save_refuses_to_overwrite(tmp_path):
    est = RangeEstimator()
    est.update("x", np.ones(2))
    path = save_stats(tmp_path / "s.json", est.finalize())
    with pytest.raises(CalibrationError, match=r"s\.json already exists; pass overwrite=True"):
        save_stats(path, est.finalize())
    save_stats(path, est.finalize(), overwrite=True)


def test_load_stats_errors(tmp_path):
    with pytest.raises(CalibrationError, match=r"stats file .*none\.json does not exist"):
        load_stats(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CalibrationError, match=r"bad\.json is not valid JSON"):
        load_stats(bad)
    other = tmp_path / "other.json"
    other.write_text('{"model_qsvs": {}}')
    with pytest.raises(CalibrationError, match=r"other\.json is not an edgellm calibration stats file"):
        load_stats(other)
    future = tmp_path / "future.json"
    future.write_text('{"format": "edgellm-calibration-stats", "version": 9, "tensors": {}}')
    with pytest.raises(CalibrationError, match=r"has stats version 9; this edgellm reads version 1"):
        load_stats(future)


def test_load_stats_rejects_nan_naming_the_tensor(tmp_path):
    est = RangeEstimator()
    est.update("h.3", np.array([0.0, 1.0]))
    path = save_stats(tmp_path / "s.json", est.finalize())
    path.write_text(path.read_text().replace('"max": 1.0', '"max": NaN'))
    with pytest.raises(CalibrationError, match=r"tensor 'h\.3' has a NaN, inf or non-number statistic"):
        load_stats(path)


def test_to_qsvs_shapes():
    est = RangeEstimator()
    est.update("a", np.zeros((1, 4, 8)) - 1.0)
    est.update("a", np.ones((1, 4, 8)))
    qsvs = to_qsvs(est.finalize())
    assert qsvs["a"]["min"].shape == (1, 1, 1) and qsvs["a"]["min"].dtype == np.float32
    assert (float(qsvs["a"]["min"].item()), float(qsvs["a"]["max"].item())) == (-1.0, 1.0)


def test_nearly_constant_large_tensor_gets_a_usable_histogram():
    """A tensor whose values differ by one float32 ulp at 1e6 once broke the histogram (too many bins)."""
    from edgellm.calibrate import RangeConfig, RangeEstimator

    x = np.array([1e6, np.nextafter(np.float32(1e6), np.float32(2e6))], dtype=np.float32)
    for kind in ("percentile", "mse"):
        est = RangeEstimator(RangeConfig(kind=kind))
        est.update("t", x)
        est.update("t", x * 1.5)
        stats = est.finalize()["t"]
        assert stats.range_min <= 1e6 + 1 and abs(stats.range_max - 1.5e6) < 0.01 * 1.5e6
