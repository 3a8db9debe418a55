"""``edgellm.convert(...)``, ``edgellm.quantize(...)``, ``edgellm.validate(...)``, ``edgellm.bundle(...)`` and
``edgellm.export(...)`` are verbs whose names are also their modules'. Once Python imports such a module it sets it
as the package attribute of that name (``edgellm.convert`` becomes the module, whatever was there before), so
these modules are made callable: the attribute is the module, and calling it calls the verb it holds. Attributes
(``edgellm.quantize.RECIPES``) and monkeypatching keep working as on any module.
"""

from __future__ import annotations

import sys
import types


class VerbModule(types.ModuleType):
    """A module that, called, calls its own function of the same name (looked up at call time)."""

    def __call__(self, *args, **kwargs):
        return getattr(self, self.__name__.rsplit(".", 1)[-1])(*args, **kwargs)


def make_callable(module_name: str) -> None:
    sys.modules[module_name].__class__ = VerbModule
