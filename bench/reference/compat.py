"""Make neuralpredictors 0.3.0 (2022, the latest on PyPI) importable on Python >= 3.10. Import this first.

0.3.0 does ``from collections import Iterable/Mapping`` (moved to ``collections.abc`` in 3.10) and imports
``torchvision`` at the top of ``layers/cores/conv2d.py``, used only by ``TransferLearningCore``, which the
reference never builds. PyPI's torchvision does not load beside torch 2.13+cpu, so an empty module stands in.
"""
import collections
import collections.abc
import importlib.util
import sys
import types

for _name in ("Iterable", "Mapping", "Sequence"):
    setattr(collections, _name, getattr(collections.abc, _name))

if importlib.util.find_spec("torchvision") is None:
    sys.modules["torchvision"] = types.ModuleType("torchvision")
