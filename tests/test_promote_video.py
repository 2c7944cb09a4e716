"""The 2023 path end to end on the tiny synthetic video release: search → promote → files for exactly the
mice whose test responses are hidden, rows of whole trials though the search cropped them → the validator;
and the promoted ensemble's score on a labelled tier recomputed from the competition's formula.

Real Ray (in-process), Optuna and MLflow; nothing mocked.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from search_builders import run_cli, write_space
from sensorium_models.data import load_sessions
from sensorium_models.data.synthetic import synthesize
from sensorium_models.submission import VIDEO_FILES, validate_submission

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # its search + promotion: 100-170 s on 2 busy cores
MAX_FRAMES = 70  # below the longest tiny trials (80 frames): submissions must still cover whole trials
TRACK_TIERS = {"main": ("live_test_main", "final_test_main"), "bonus": ("live_test_bonus", "final_test_bonus")}


def _space(data, cache) -> dict:
    return {
        "data": {"paths": [str(data)], "cache_dir": str(cache), "max_frames": MAX_FRAMES},
        "model": {"hidden_channels": [4, 4], "layers": 2, "input_kern": 7, "hidden_kern": 3, "temporal_kern": 3,
                  "hidden_temporal_kern": 3, "pad_hidden": True, "gamma_input": {"loguniform": [0.1, 10.0]},
                  "readout_bias_from_mean": True},
        "trainer": {"batch_size": 8, "clip_frames": 40, "lr_init": 0.01, "max_epochs": 2, "device": "cpu"},
        "search": {"metric": "val_corr", "num_samples": 2, "max_concurrent": 2, "seed": 0,
                   "asha": {"grace_period": 1, "max_t": 2, "reduction_factor": 2}},
    }


@pytest.fixture(scope="module")
def promoted(tmp_path_factory, ray_local):
    root = tmp_path_factory.mktemp("promote-video")
    synthesize(root / "data", "video", "tiny")
    runs = root / "runs"
    rc, _, err = run_cli("search", "launch", str(write_space(root / "v.yaml", _space(root / "data", root / "cache"))),
                         "--name", "v", "--runs-dir", str(runs))
    assert rc == 0, err
    rc, out, err = run_cli("promote", "v", "--top-k", "1", "--seeds", "2", "--runs-dir", str(runs),
                           "--out", str(root / "promotion"))
    assert rc == 0, err
    sessions = load_sessions({"paths": [str(root / "data")], "cache_dir": str(root / "cache")})  # whole trials
    return root / "promotion", sessions, out


def _hidden_mice(sessions, tiers) -> set[str]:
    """Mice with a tier of ``tiers`` whose responses are all zero, from the arrays."""
    return {s.name for s in sessions for t in tiers
            if len(s.tier_indices(t)) and not np.any(s.responses[s.tier_indices(t)])}


def test_files_hold_exactly_the_hidden_mice_with_whole_trial_rows(promoted):
    folder, sessions, out = promoted
    by_name = {s.name: s for s in sessions}
    assert _hidden_mice(sessions, TRACK_TIERS["main"])
    lengths = []
    for track, tiers in TRACK_TIERS.items():
        for tier in tiers:
            path = folder / "submission" / VIDEO_FILES[tier]
            holding = {s.name for s in sessions if len(s.tier_indices(tier))} & _hidden_mice(sessions, tiers)
            assert path.exists() == bool(holding)
            if not holding:
                continue
            assert str(path) in out and validate_submission(path, sessions) == []
            rows = pq.read_table(path).to_pylist()
            assert {r["mouse"] for r in rows} == holding
            for row in rows:
                lengths.append(int(by_name[row["mouse"]].trial_lengths[row["trial_indices"]]))
                assert np.shape(row["prediction"]) == (by_name[row["mouse"]].n_neurons, min(lengths[-1], 300) - 51)
    assert max(lengths) > MAX_FRAMES  # some rows come from trials the search saw cropped
    written = sorted(p.name for p in (folder / "submission").iterdir())
    assert written == sorted([*(VIDEO_FILES[t] for tiers in TRACK_TIERS.values() for t in tiers), "submission_main.zip",
                              "submission_live_bonus.zip", "submission_final_bonus.zip"])


def test_an_extra_mouse_or_a_short_row_fails_validation_by_name(promoted, tmp_path):
    folder, sessions, _ = promoted
    path = folder / "submission" / VIDEO_FILES["final_test_main"]
    table = pq.read_table(path)
    rows = table.to_pylist()
    short = [{**rows[0], "prediction": [values[:-1] for values in rows[0]["prediction"]]}] + rows[1:]
    broken = tmp_path / "short" / path.name
    broken.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(short, schema=table.schema), broken)
    (problem,) = validate_submission(broken, sessions)
    assert problem.startswith(f"wrong prediction shape (1 rows): mouse {rows[0]['mouse']}, trial {rows[0]['trial_indices']}")
    labelled = [s for s in sessions if s.name not in _hidden_mice(sessions, TRACK_TIERS["main"])]
    assert labelled  # the tiny release has an old mouse, all of its tiers labelled: its rows are extra
    extra = {**rows[0], "mouse": labelled[0].name}
    pq.write_table(pa.Table.from_pylist(rows + [extra], schema=table.schema), tmp_path / path.name)
    assert any(p.startswith(f"extra mice: {labelled[0].name} (1 rows)")
               for p in validate_submission(tmp_path / path.name, sessions))


def _corr(y1, y2):
    z1 = (y1 - y1.mean(axis=0)) / (y1.std(axis=0) + 1e-8)
    z2 = (y2 - y2.mean(axis=0)) / (y2.std(axis=0) + 1e-8)
    return np.nan_to_num((z1 * z2).mean(axis=0))


def test_reported_score_is_the_competition_formula_on_the_ensembles_predictions(promoted):
    from search.registry import load_ensemble_folder

    folder, sessions, _ = promoted
    spec = yaml.safe_load((folder / "ensemble" / "ensemble.yaml").read_text())
    ensemble, matched = load_ensemble_folder(folder / "ensemble", sessions)
    labelled = [t for t in ("live_test_main", "final_test_main", "oracle")
                if any(f"{s.key}/{t}/challenge_corr" in spec["scores"] for s in matched)]
    tier = labelled[0]
    per_mouse = []
    for session in matched:
        trials = session.tier_indices(tier)
        if f"{session.key}/{tier}/challenge_corr" not in spec["scores"]:
            continue
        whole = np.minimum(session.trial_lengths, session.stimuli.shape[1])  # T: frames before the NaN padding
        predicted = ensemble.predict(replace(session, lengths=whole), trials)
        window = [slice(51, min(int(whole[t]), 300)) for t in trials]
        p = np.concatenate([np.asarray(pred, np.float64)[w] for pred, w in zip(predicted, window)])
        r = np.concatenate([np.asarray(session.responses[t], np.float64)[w] for t, w in zip(trials, window)])
        per_mouse.append(_corr(r, p).mean())
        assert spec["scores"][f"{session.key}/{tier}/challenge_corr"] == pytest.approx(per_mouse[-1], abs=1e-6)
    assert spec["scores"][f"mean/{tier}/challenge_corr"] == pytest.approx(np.mean(per_mouse), abs=1e-6)
