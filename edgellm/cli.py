"""The `edgellm` command line: thin.

Each subcommand builds a config from its flags, calls the public function, prints, and returns an exit code.
An ``EdgeLLMError`` prints one line and exits with its ``exit_code`` (2 bad input, 1 validation failed);
``--debug`` shows the traceback instead. Heavy libraries are imported by the functions that need them, so
``edgellm bench --help`` starts fast on a runtime-only install.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from edgellm.errors import EdgeLLMError


def _csv_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,2,4; got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers such as 1,2,4; got {text!r}")
    return values


# ---------------------------------------------------------------------------------------------- export
def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="convert a local Hugging Face model folder into a validated LiteRT export folder",
        description="Convert a local Hugging Face model folder into OUTPUT_DIR (model.tflite, tokenizer, "
        "edgellm.json) and validate it against the PyTorch model. Exit codes: 0 success, 1 validation "
        "failed, 2 bad input or unsupported model.",
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR")
    p.add_argument("--model", default=None, help="HF model folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--task", default="auto", help="auto (from config.architectures / sentence-transformers files) "
                   "or feature-extraction, sentence-embedding, text-classification, token-classification, "
                   "question-answering, fill-mask")
    p.add_argument("--quantize", default="fp32", help="fp32, fp16, int8-dynamic")
    p.add_argument("--sequence-length", type=int, default=128)
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT_DIR if it exists and is not empty")
    p.add_argument("--allow-validation-failure", action="store_true",
                   help="keep the export (marked not passed) when validation fails; still exits 1")
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from edgellm.export import export

    result = export(args.model, args.output_dir, task=args.task, quantize=args.quantize,
                    sequence_length=args.sequence_length, overwrite=args.overwrite,
                    allow_validation_failure=args.allow_validation_failure)
    print(result.summary())
    return 0 if result.validation.passed else 1


# ---------------------------------------------------------------------------------------------- main
_COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (_add_export,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgellm", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    from edgellm import __version__

    parser.add_argument("--version", action="version", version=f"edgellm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except EdgeLLMError as e:
        if args.debug:
            raise
        print(f"edgellm {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"edgellm {args.command}: interrupted; nothing was left half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
