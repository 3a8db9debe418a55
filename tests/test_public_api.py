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


def test_compression_verbs_are_public():
    assert {"prune", "PruneConfig", "PruneResult", "distill", "DistillConfig", "DistillResult"} <= set(edgellm.__all__)
    from edgellm.compress.distill import distill

    assert edgellm.distill is distill
    assert {"qat", "QatConfig", "QatResult"} <= set(edgellm.__all__)
    from edgellm.compress.qat import qat

    assert edgellm.qat is qat


def test_import_edgellm_loads_nothing_heavy():
    code = ("import sys, edgellm; heavy = [m for m in ('torch', 'transformers', 'tensorflow', 'litert_torch') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_verbs_named_as_their_modules_stay_callable(tiny_bert, tmp_path):
    """edgellm.convert/quantize/validate/bundle/export are called as the README shows, also after their modules
    were imported (which makes the attribute the module): the modules are callable and call their verb."""
    import edgellm.bundle  # noqa: F401  the import that used to turn edgellm.bundle into a plain module
    import edgellm.convert  # noqa: F401
    from edgellm.export import ExportConfig  # noqa: F401

    model = edgellm.convert(str(tiny_bert), edgellm.ConvertConfig(sequence_length=16))
    qmodel = edgellm.quantize(model, "int8-dynamic")
    report = edgellm.validate(qmodel)
    assert report.passed and qmodel.recipe == "int8-dynamic"
    assert edgellm.bundle(tmp_path / "out", qmodel, validation=report) == tmp_path / "out"
    assert (tmp_path / "out" / "edgellm.json").is_file()
    result = edgellm.export(str(tiny_bert), tmp_path / "exported", sequence_length=16)
    assert result.validation.passed and edgellm.quantize.RECIPES["int8"].needs_calibration


def test_optimize_and_verify_are_public():
    from edgellm.lock import verify
    from edgellm.optimize import OptimizeConfig

    assert {"optimize", "OptimizeConfig", "OptimizeResult", "verify", "VerifyReport"} <= set(edgellm.__all__)
    assert edgellm.verify is verify and edgellm.OptimizeConfig is OptimizeConfig
    assert callable(edgellm.optimize)  # the module, callable like the other verbs named as their modules


def test_report_names_are_public():
    from edgellm.report import ReportEntry, entries_from_bench, write_report

    assert (edgellm.ReportEntry, edgellm.write_report, edgellm.entries_from_bench) == (ReportEntry, write_report,
                                                                                        entries_from_bench)


def test_pack_is_public():
    from edgellm.bundle.pack import PackResult, pack

    assert {"pack", "PackResult"} <= set(edgellm.__all__)
    assert (edgellm.pack, edgellm.PackResult) == (pack, PackResult)
