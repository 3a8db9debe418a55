"""--accuracy-budget: per-layer sensitivity picks the fewest linear layers to keep at the fallback precision."""

import json

import numpy as np
import pytest

from edgellm import cli
from edgellm.errors import ConfigError
from edgellm.export import ExportConfig, export

SEQ = 16


def _fc_input_dtypes(model_file):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(str(model_file))
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    return [(tensors[op["outputs"][0]]["name"], tensors[op["inputs"][0]]["dtype"])
            for op in it._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]


@pytest.mark.parametrize("budget", [0.5, 1.0])
def test_budget_keeps_the_chosen_layers_dynamic(tiny_bert, tmp_path, budget):
    out = tmp_path / "q"
    argv = ["export", "--model", str(tiny_bert), "--sequence-length", str(SEQ), "--quantize", "int8",
            "--num-calibration-samples", "16", "--accuracy-budget", str(budget), "--allow-validation-failure",
            str(out)]
    assert cli.main(argv) == 0
    m = json.loads((out / "edgellm.json").read_text())
    fitted = m["quantization"]["accuracy_budget"]
    assert fitted["budget"] == budget and fitted["fallback"] == "dynamic"
    fcs = _fc_input_dtypes(out / "model.tflite")
    dynamic = {name for name, dtype in fcs if dtype == np.float32}
    assert dynamic == set(fitted["kept"])  # exactly the chosen layers left static int8
    if budget == 0.5:  # the all-static graph meets it: nothing kept, no sensitivity pass needed
        assert fitted["met"] and fitted["kept"] == [] and fitted["score"] == fitted["score_all_static"]
    else:  # out of reach (dynamic-range is not exact either): every layer kept, most sensitive first
        assert not fitted["met"] and len(fitted["sensitivity"]) == len(fcs) == len(fitted["kept"])
        assert fitted["score"] >= fitted["score_all_static"]
        # the kept layers are the most sensitive ones
        gain = fitted["sensitivity"]
        rest = [gain[n] for n in gain if n not in fitted["kept"]]
        assert not rest or min(gain[n] for n in fitted["kept"]) >= max(rest) - 1e-6


def test_budget_needs_a_static_recipe():
    with pytest.raises(ConfigError, match="--accuracy-budget needs a static recipe"):
        ExportConfig(quantize="int8-dynamic", accuracy_budget=0.99)
    with pytest.raises(ConfigError, match=r"--accuracy-budget is a mean cosine in \(0, 1\]"):
        ExportConfig(quantize="int8", accuracy_budget=1.5)
    assert ExportConfig.from_dict(ExportConfig(quantize="int8", accuracy_budget=0.99).to_dict()).accuracy_budget == 0.99
