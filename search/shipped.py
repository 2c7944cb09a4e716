"""Where the shipped configs are: the ``configs`` package's folder (configs/ of a checkout, or its installed copy),
so they are found the same way from any working directory."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

CONFIGS = Path(str(files("configs")))
