"""One module per command group of ``sensorium-search``; each has ``register(subparsers)``.

Handlers import heavy libraries (torch, ray, mlflow) inside themselves, so ``--help`` stays instant.
"""
