import json

import pytest

from edgellm.bench import InspectReport, inspect
from edgellm.bench.inspect import parse_fail_on
from edgellm.errors import ConfigError, ModelFileError


def test_tflite(tiny_tflite):
    report = inspect(tiny_tflite)
    assert isinstance(report, InspectReport) and report.kind == "tflite"
    (m,) = report.models
    (sig,) = m["signatures"]
    assert sig["name"] == "serving_default"
    assert {i["name"]: (i["dtype"], i["shape"]) for i in sig["inputs"]} == {
        "input_ids": ("int32", [1, 16]), "attention_mask": ("int32", [1, 16]), "token_type_ids": ("int32", [1, 16])}
    assert sig["outputs"][0]["shape"] == [1, 16, 32]
    assert sum(r["count"] for r in m["op_census"]) == m["subgraphs"][0]["ops"]
    fc = [r for r in m["op_census"] if r["op"] == "FULLY_CONNECTED"]
    assert fc and all(r["activations"] == "float32" and r["weights"] == "float32" for r in fc)
    assert m["precision"]["quantized"] is False
    x = m["xnnpack"]
    assert x["applied"] and x["partitions"] == report.partitions >= 1
    assert x["delegated_ops"] + sum(u["count"] for u in x["undelegated"]) == x["total_ops"]
    assert "EMBEDDING_LOOKUP" in {u["op"] for u in x["undelegated"]}  # int32 ids stay out of XNNPACK
    assert m["size"]["by_dtype"]["float32"] > 100 * 32 * 4
    assert m["size"]["largest"][0]["bytes"] >= m["size"]["largest"][-1]["bytes"]
    json.loads(report.to_json())


def test_quantized_graph_shows_what_stayed_float(tiny_tflite, tmp_path):
    quantizer = pytest.importorskip("ai_edge_quantizer.quantizer")
    from ai_edge_quantizer import recipe

    out = tmp_path / "int8.tflite"
    quantizer.Quantizer(str(tiny_tflite), recipe.dynamic_wi8_afp32()).quantize().export_model(str(out))
    (m,) = inspect(out).models
    fc = [r for r in m["op_census"] if r["op"] == "FULLY_CONNECTED"]
    assert {(r["activations"], r["weights"]) for r in fc} == {("float32", "int8")}
    p = m["precision"]
    assert p["quantized"] and p["ops_by_kind"]["dynamic-range"] >= 6
    assert p["float_compute_ops"].get("BATCH_MATMUL", 0) >= 1
    assert "int8" in m["size"]["by_dtype"]


def test_export_folder_and_no_runtime(tiny_export):
    report = inspect(tiny_export, runtime=False)
    assert report.kind == "export-folder" and report.models[0]["xnnpack"] is None
    assert report.partitions is None
    assert report.failures({"partitions": 1}) == ["partitions: not measured (no runtime to load the model with)"]


def test_two_signatures(bucket_export):
    (m,) = inspect(bucket_export).models
    assert [(s["name"], s["subgraph"]) for s in m["signatures"]] == [("seq_8", 0), ("seq_16", 1)]
    assert len(m["subgraphs"]) == 2
    # weights are shared between the two signatures: counted once
    single = inspect(bucket_export / "model.tflite").models[0]["size"]["weights_bytes"]
    assert m["size"]["weights_bytes"] == single


def test_litertlm(tiny_litertlm):
    report = inspect(tiny_litertlm)
    assert report.kind == "litertlm"
    assert [s["type"] for s in report.sections] == ["TFLiteModel"]
    (m,) = report.models
    assert m["section"].startswith("TFLiteModel[0]") and m["xnnpack"]["partitions"] >= 1


def test_fail_on():
    assert parse_fail_on(["partitions:1", "undelegated:10"]) == {"partitions": 1, "undelegated": 10}
    for bad in ("partitions", "partitions:x", "speed:3", "partitions:-1"):
        with pytest.raises(ConfigError, match="is not METRIC:N with METRIC one of partitions, undelegated"):
            parse_fail_on([bad])


def test_failures(tiny_tflite):
    report = inspect(tiny_tflite)
    n = report.partitions
    assert report.failures({"partitions": n}) == []
    assert report.failures({"partitions": n - 1}) == [f"partitions: {n} > {n - 1}"]
    undelegated = report.metric("undelegated")
    assert undelegated >= 1 and report.failures({"undelegated": undelegated - 1})


def test_corrupted(corrupt):
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        inspect(corrupt("truncate", 0.7))


def test_package_attribute_is_the_function_not_the_module():
    import importlib

    importlib.import_module("edgellm.bench.inspect")
    import edgellm.bench

    assert callable(edgellm.bench.inspect) and edgellm.bench.inspect.__name__ == "inspect"
