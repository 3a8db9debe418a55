"""A user's bad input is an EdgeLLMError with one line saying what is allowed, never a TypeError from inside."""

import pytest

import edgellm
from edgellm.convert import ConvertConfig
from edgellm.errors import ConfigError


@pytest.mark.parametrize("cls", [edgellm.ExportConfig, ConvertConfig, edgellm.GenerateConfig, edgellm.SamplingConfig])
def test_from_dict_names_unknown_keys(cls):
    with pytest.raises(ConfigError, match=rf"unknown {cls.__name__} keys 'bogus'; known: "):
        cls.from_dict({"bogus": 1})
    with pytest.raises(ConfigError, match=r"from_dict takes a dict; got list"):
        cls.from_dict([])


@pytest.mark.parametrize("kwargs, match", [
    ({"chat": "yes"}, "chat must be True or False"),
    ({"stop_at_eos": 1}, "stop_at_eos must be True or False"),
    ({"sampling": "greedy"}, "sampling must be a SamplingConfig"),
])
def test_generate_config_types(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        edgellm.GenerateConfig(**kwargs)


@pytest.mark.parametrize("task", ["bogus", ["text-generation"]])
def test_unknown_task_lists_text_generation(task):
    with pytest.raises(ConfigError, match=r"is unknown; known tasks: auto, .*fill-mask, text-generation"):
        edgellm.ExportConfig(task=task)


def test_paths_that_are_not_paths():
    with pytest.raises(ConfigError, match=r"path must be a str or pathlib.Path \(or a model with .path\); got int"):
        edgellm.inspect(123)
    with pytest.raises(ConfigError, match="folder must be a path"):
        edgellm.load_llm(123)
