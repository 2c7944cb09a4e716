"""Optuna's own plots of a finished search, drawn from Tune's trials rather than the searcher's private study.

Rebuilding an Optuna study from the trials works the same after a resume, for ``search status`` and
for a searcher Tune restored from disk, and scores each trial by its best epoch. Each plot is a PNG (shown
inline by MLflow) and, all in one page, an interactive plotly figure (``interactive.html``: hover for a
trial's values, drag the parallel-coordinate axes, whose labels a PNG cannot keep apart).
"""
from __future__ import annotations

import threading
import warnings
from pathlib import Path

from search.config import SearchSpec
from search.results import FAILED, TrialRow
from search.space import flatten

PLOTS = ("optimization_history", "param_importances", "parallel_coordinate")
INTERACTIVE = "interactive.html"
_DRAWING = threading.Lock()  # pyplot's state is global: one MLflow writer thread per tracking URI draws at a time


def study_from_rows(rows: list[TrialRow], spec: SearchSpec):
    """An in-memory Optuna study with one completed trial per scored Tune trial, in creation order."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    distributions = OptunaSearch.convert_search_space(spec.tune_space())
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=spec.settings.objective.direction,
                                study_name=spec.name)
    for row in rows:
        if row.best is None or row.state == FAILED:
            continue
        searched = flatten(row.config, sep="/")
        params = {k: searched[k] for k in distributions if k in searched}   # a cross-family trial: its own keys
        study.add_trial(optuna.trial.create_trial(params=params, distributions={k: distributions[k] for k in params},
                                                  value=row.best,
                                                  user_attrs={"trial_id": row.trial_id}))
    return study


def write_plots(rows: list[TrialRow], spec: SearchSpec, folder: Path) -> dict[str, dict[str, str]]:
    """Write each plot as PNG into ``folder``: ``{"written": {plot: path}, "skipped": {plot: why}}``.

    Importances need at least two scored trials with different parameters; a plot that cannot be drawn is
    reported, not raised, so one odd search never loses the others.
    """
    import matplotlib

    matplotlib.use("Agg")
    study = study_from_rows(rows, spec)
    with _DRAWING:
        written, skipped = _draw(study, folder)
    if written:
        written["interactive"] = str(write_interactive(study, list(written), folder / INTERACTIVE))
    return {"written": written, "skipped": skipped}


def _draw(study, folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Each of PLOTS as a PNG in ``folder`` (under ``_DRAWING``): the written paths and the reasons for the rest."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    written, skipped = {}, {}
    for name in PLOTS:
        if len(study.trials) < 2:
            skipped[name] = f"{len(study.trials)} scored trial(s); a plot needs 2"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib backend experimental
                ax = getattr(optuna_plots, f"plot_{name}")(study)
            figure = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            figure.set_size_inches(10, 6)
            path = folder / f"{name}.png"
            figure.savefig(path, dpi=90, bbox_inches="tight")
            plt.close(figure)
            written[name] = str(path)
        except (ValueError, RuntimeError) as err:
            skipped[name] = f"{type(err).__name__}: {err}"
    return written, skipped


def write_interactive(study, names: list[str], path: Path) -> Path:
    """Optuna's plotly figures of ``names`` on one self-contained page (plotly.js embedded once: no CDN,
    so it opens on a machine without internet)."""
    from optuna import visualization

    parts = [getattr(visualization, f"plot_{name}")(study).to_html(full_html=False, include_plotlyjs=i == 0)
             for i, name in enumerate(names)]
    path.write_text(f"<html><head><meta charset='utf-8'><title>{study.study_name}</title></head><body>"
                    + "".join(parts) + "</body></html>")
    return path
