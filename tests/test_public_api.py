import subprocess
import sys

import edgellm


def test_every_public_name_resolves():
    for name in edgellm.__all__:
        assert getattr(edgellm, name) is not None, name


def test_generation_and_export_results_are_public():
    assert {"load_llm", "Llm", "GenerateConfig", "SamplingConfig", "GenerationStats", "ExportResult"} <= set(
        edgellm.__all__)
    from edgellm.generate import load_llm

    assert edgellm.load_llm is load_llm


def test_import_edgellm_loads_nothing_heavy():
    code = ("import sys, edgellm; heavy = [m for m in ('torch', 'transformers', 'tensorflow', 'litert_torch') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
