"""The science of sensorium-search: data, models, training, metrics, usable without Ray or MLflow.

The three contracts (after nnfabrik) everything else composes:
``load_sessions(data_cfg, seed)``, ``build_model(sessions, model_cfg, seed)``,
``train(model, sessions, trainer_cfg, seed, report=None)``.
"""
