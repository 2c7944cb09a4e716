"""The models: families of architectures (``families``), the built-in one a shared core, per-session
Gaussian readouts, shifters and Model 4's modulators.

``build_model(sessions, model_cfg, seed)`` is the contract; ``ModelConfig`` the built-in family's schema.
"""
from .build import ModelConfig, build_model
from .families import Family, parse_model

__all__ = ["Family", "ModelConfig", "build_model", "parse_model"]
