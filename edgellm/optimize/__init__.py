"""``edgellm optimize``: one command from a Hugging Face folder (or a .gguf file) to the best on-device export.

Exports the model with each recipe (``edgellm.export``, validation included), times each (``edgellm.benchmark``),
picks the fastest or smallest whose fidelity is inside the budget into OUTPUT_DIR/best, says why every other
recipe lost, and writes the report (``edgellm.report``) whose report.json holds the lock ``edgellm verify``
rebuilds from. One concept per module: ``budget.py`` (parsing, which metric), ``select.py`` (the choice, pure),
``stages.py`` (the content-hashed stage cache), ``run.py`` (the pipeline).
"""

from __future__ import annotations

from edgellm.optimize.budget import Budget, parse_budget
from edgellm.optimize.run import ENCODER_RECIPES, LLM_RECIPES, OptimizeConfig, OptimizeResult, optimize
from edgellm.optimize.select import Measurement, Verdict, select

__all__ = ["ENCODER_RECIPES", "LLM_RECIPES", "Budget", "Measurement", "OptimizeConfig", "OptimizeResult",
           "Verdict", "optimize", "parse_budget", "select"]

from edgellm._verbs import make_callable  # noqa: E402  (edgellm.optimize(...) calls optimize(); see _verbs.py)

make_callable(__name__)
