"""Compression before conversion, on the PyTorch side: structured pruning (``prune``) and distillation
(``distill``) of a local HF folder into a smaller HF folder that ``edgellm export`` takes as it is."""

from edgellm.compress.distill import DistillConfig, DistillResult, distill
from edgellm.compress.prune import PruneConfig, PruneResult, prune

__all__ = ["PruneConfig", "PruneResult", "prune"]
__all__ += ["DistillConfig", "DistillResult", "distill"]
