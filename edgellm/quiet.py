"""Known third-party noise, silenced while `export` runs; edgellm's own lines and every error still show.

An LLM export runs for minutes while torch, torchao, transformers and the LiteRT converter write dozens of lines
to stderr that a user can do nothing about. Each entry below names one message, where it comes from and why it
is safe to drop. Anything not listed (new warnings, every ERROR, every exception) passes through.

Python ``warnings`` filters and logger filters are put back when the export ends. The C++ log level
(``TF_CPP_MIN_LOG_LEVEL``) is read once by the native libraries, so it is set only when the user has not set it,
before the converter is imported, and stays.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from typing import Iterator

# (logger name, message regex, why it is noise)
LOG_NOISE: tuple[tuple[str, str, str], ...] = (
    ("torchao", r"^Failed to load .*\.so",
     "torchao's optional CUDA/MX kernels; edgellm converts on CPU and never calls them"),
    ("torch.utils._pytree", r"is an Enum subclass and is now natively supported",
     "a deprecation inside torchao's own pytree registrations"),
    ("transformers.utils.generic", r"`past_key_values`/`cache_params` are deprecated",
     "the reference model is run with past_key_values, which every supported transformers version accepts"),
)

# (warning category, message regex, why it is noise)
WARNING_NOISE: tuple[tuple[type[Warning], str, str], ...] = (
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated",
     "torch.export internals, raised once per exported signature"),
    (FutureWarning, r"`past_key_values` is deprecated",
     "same as the transformers log line above, as a Python warning"),
)

# C++ logging of the converter (TensorFlow/XLA/MLIR INFO and WARNING lines such as "oneDNN custom operations are
# on" and "Estimated count of arithmetic ops"): 2 keeps errors
NATIVE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}


class _DropMessages(logging.Filter):
    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        try:
            return not self.pattern.search(record.getMessage())
        except Exception:  # a record whose args do not format: let logging report it as it would
            return True


@contextlib.contextmanager
def quiet_third_party() -> Iterator[None]:
    """Drop the listed third-party messages for the duration; restore the Python-side filters after."""
    for name, value in NATIVE_ENV.items():
        os.environ.setdefault(name, value)
    filters = [(logging.getLogger(name), _DropMessages(pattern)) for name, pattern, _ in LOG_NOISE]
    with warnings.catch_warnings():
        for category, pattern, _ in WARNING_NOISE:
            warnings.filterwarnings("ignore", message=f".*{pattern}", category=category)
        for logger, f in filters:
            logger.addFilter(f)
        restore = []
        try:
            restore.append(_quiet_absl())
            restore.append(_disable_transformers_progress_bars())  # imports transformers: after the filters
            yield
        finally:
            for logger, f in filters:
                logger.removeFilter(f)
            for undo in reversed(restore):
                undo()


def _quiet_absl():
    """litert_torch logs each conversion step through absl at INFO/WARNING ("Converting ...", signature notes)."""
    try:
        from absl import logging as absl_logging
    except ImportError:
        return lambda: None
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    return lambda: absl_logging.set_verbosity(verbosity)


def _disable_transformers_progress_bars():
    """transformers draws a "Loading weights" bar each time the model is loaded (twice per LLM export)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return lambda: None
    if not hf_logging.is_progress_bar_enabled():
        return lambda: None
    hf_logging.disable_progress_bar()
    return hf_logging.enable_progress_bar
