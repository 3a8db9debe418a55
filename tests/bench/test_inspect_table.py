"""The inspect table folds per-layer tensors into one line each; the json keeps every tensor."""

from edgellm.bench.format import layer_groups


def _t(name, shape=(1, 64, 2, 8), dtype="float32", quantization=None):
    return {"name": name, "tensor": name, "dtype": dtype, "shape": list(shape), "quantization": quantization}


def test_thirty_layers_are_one_line_each_in_numeric_order():
    names = sorted([f"kv_k_cache_{i}" for i in range(30)] + [f"kv_v_cache_{i}" for i in range(30)]
                   + ["tokens", "input_pos"])  # the flatbuffer's order: 0, 1, 10, 11, ...
    lines = layer_groups([_t(n) for n in names])
    assert [(name, count) for name, _, count in lines] == [
        ("input_pos", 1), ("kv_k_cache_{0..29}", 30), ("kv_v_cache_{0..29}", 30), ("tokens", 1)]
    assert lines[1][1]["shape"] == [1, 64, 2, 8]


def test_only_same_dtype_and_shape_fold_and_gaps_are_listed():
    lines = layer_groups([_t("k_2"), _t("k_10"), _t("k_0"), _t("k_1"), _t("k_5", shape=(1, 9)),
                          _t("q_0", quantization={"scale": [0.1], "zero_point": [0]}),
                          _t("q_1", quantization={"scale": [0.2], "zero_point": [0]})])
    assert [(name, count) for name, _, count in lines] == [
        ("k_{0..2,10}", 4), ("k_5", 1), ("q_0", 1), ("q_1", 1)]
