"""The command line as a new user meets it: help texts, `--debug` after the command."""

import argparse

import pytest

from edgellm import cli
from edgellm.errors import ConfigError, ModelFileError

MINE = ("export", "inspect", "generate")


def _subparsers():
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return parser, sub.choices


def test_top_level_help_says_what_edgellm_does(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "thin" not in out
    for word in ("Hugging Face", "LiteRT", "GGUF", "export", "bench", "inspect", "generate"):
        assert word in out


def test_export_help_names_gguf_and_text_generation(capsys):
    with pytest.raises(SystemExit):
        cli.main(["export", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # unwrapped
    assert ".gguf" in out and "--task text-generation" in out
    assert "(default: 512)" in out and "(default: 32,128)" in out and "(default: fp32)" in out


@pytest.mark.parametrize("command", MINE)
def test_every_option_has_help_and_shows_its_default(command):
    _, commands = _subparsers()
    p = commands[command]
    formatter = p._get_formatter()
    for action in p._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.option_strings or action.dest} has no help"
        meaningful = not isinstance(action.default, bool) and action.default not in (None, (), [], argparse.SUPPRESS)
        if meaningful and action.option_strings:
            assert "default" in formatter._get_help_string(action), f"{command} {action.option_strings}"


def test_export_debug_after_the_command_shows_the_traceback(tmp_path, capsys):
    bad = ["--quantize", "no-such-recipe", str(tmp_path / "out")]
    assert cli.main(["export", *bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-recipe" in err
    with pytest.raises(ConfigError, match="no-such-recipe"):
        cli.main(["export", "--debug", *bad])
    with pytest.raises(ConfigError, match="no-such-recipe"):
        cli.main(["--debug", "export", *bad])  # the top-level flag still works


@pytest.mark.parametrize("argv", [["generate", "--debug", "{missing}", "--prompt", "hi"],
                                  ["inspect", "--debug", "{missing}"]])
def test_debug_after_generate_and_inspect(tmp_path, argv):
    argv = [a.format(missing=tmp_path / "missing") for a in argv]
    with pytest.raises((ModelFileError, ConfigError)):
        cli.main(argv)
