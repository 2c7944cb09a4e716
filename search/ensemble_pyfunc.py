"""The MLflow pyfunc of a registered ensemble, logged from code so that loading it unpickles nothing.

``mlflow.pyfunc.load_model("models:/NAME@ALIAS").predict({"paths": [...]})`` (served: a request of
``{"dataframe_records": [{"paths": [...]}]}``) returns, for every session
in the data that the ensemble knows, the ensemble's predictions for each of its test tiers (video: whole
trials, as a submission row needs them).
"""
from __future__ import annotations

from pathlib import Path

import mlflow


class EnsemblePyfunc(mlflow.pyfunc.PythonModel):
    # MLflow's opt-out from type-hint validation (its ChatModel uses it). Without it MLflow checks predict when
    # this class is defined, i.e. at every log and load, and warns that there are no hints to build a schema
    # from; the input is a dict of paths, which no schema describes. Other warnings are untouched.
    _skip_type_hint_validation = True

    def load_context(self, context):
        self.folder = Path(context.artifacts["ensemble"])

    def predict(self, context, model_input, params=None):  # no type hints: MLflow would infer a schema
        from sensorium_models.data import load_sessions
        from sensorium_models.data.tiers import tiers_of_role
        from search.registry import load_ensemble_folder

        # A dict's list, or MLflow's frame of it after the signature's check: one row, or a row per request.
        rows = list(model_input["paths"])
        rows = [rows] if rows and isinstance(rows[0], str) else rows
        sessions = load_sessions({"paths": [str(path) for row in rows for path in row]})
        ensemble, matched = load_ensemble_folder(self.folder, sessions)
        return {
            session.name: {tier: ensemble.predict(session.whole_trials(), session.tier_indices(tier))
                           for tier in tiers_of_role(session, "test")}
            for session in matched
        }


mlflow.models.set_model(EnsemblePyfunc())
