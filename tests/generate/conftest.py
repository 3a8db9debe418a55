import pytest


@pytest.fixture(scope="session")
def tiny_llm_export(tmp_path_factory):
    """(model folder, fp32 export folder) of a random tiny llama: cache 64, prefill_8 + decode."""
    from tiny_llm import cached_export

    return cached_export(tmp_path_factory)
