"""Model presets: ``model: {preset: model4, gamma_input: 12}`` means ``configs/model/model4.yaml`` with
``gamma_input`` replaced, so train and search YAMLs name a published architecture instead of copying it.

Presets are expanded when a config is read, on the machine that reads it; what a search stores and a
trial receives is the full block, so workers never need the preset files.
"""
from __future__ import annotations

from search.shipped import CONFIGS
from sensorium_models.errors import UserError, did_you_mean
from sensorium_models.errors import shorten
from sensorium_models.yaml_file import read_yaml

PRESETS = CONFIGS / "model"


def preset_names() -> list[str]:
    return sorted(path.stem for path in PRESETS.glob("*.yaml"))


def read_preset(name: object, where: str = "") -> dict:
    """The validated values of one preset file."""
    from sensorium_models.models import parse_model

    names = preset_names()
    if name not in names:
        raise UserError(f"{where}model.preset: unknown preset {shorten(name)!r}{did_you_mean(str(name), names)}; "
                        f"expected one of {', '.join(names)} (files in {PRESETS})")
    path = PRESETS / f"{name}.yaml"
    values = read_yaml(path, "model preset")
    if not isinstance(values, dict):
        raise UserError(f"{path}: expected a mapping of model keys, found {type(values).__name__}")
    try:
        parse_model(values)
    except UserError as err:
        raise UserError(f"{path}: {err}") from None
    return values


def expand_preset(model: dict, where: str = "") -> dict:
    """``model`` with its ``preset`` replaced by the preset's values; the block's own keys win."""
    if "preset" not in model:
        return model
    rest = {key: value for key, value in model.items() if key != "preset"}
    return {**read_preset(model["preset"], where), **rest}
