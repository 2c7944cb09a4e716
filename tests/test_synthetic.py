"""Synthetic sessions: the organisers' layouts exactly, determinism, ground truth, a recoverable history tau."""
from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from sensorium_models.data.ground_truth import ground_truth_folder, load_ground_truth, neuron_correlation
from sensorium_models.data.synthetic import HISTORY_TAU, STATE_DIMS, STATE_TAU, synthesize
from sensorium_models.data.synthetic_plan import session_names, session_sizes
from sensorium_models.errors import UserError


@pytest.fixture(scope="module")
def static(tmp_path_factory) -> Path:
    (folder,) = synthesize(tmp_path_factory.mktemp("static"), "static", "tiny", seed=0)
    return folder


@pytest.fixture(scope="module")
def video_release(tmp_path_factory) -> list[Path]:
    return synthesize(tmp_path_factory.mktemp("video"), "video", "tiny", seed=0)


@pytest.fixture(scope="module")
def video(video_release) -> Path:
    """The old mouse of the tiny release: every tier labelled."""
    return video_release[0]


def _trials(folder: Path, modality: str) -> list[np.ndarray]:
    n = len(list((folder / "data" / modality).iterdir()))
    return [np.load(folder / "data" / modality / f"{i}.npy") for i in range(n)]


def _meta(folder: Path, group: str, name: str) -> np.ndarray:
    return np.load(folder / "meta" / group / f"{name}.npy")


def test_static_layout(static):
    (size,) = session_sizes("static", "tiny")
    assert static.name.startswith("static") and "-GrayImageNet-" in static.name
    shapes = {"images": (1, 144, 256), "responses": (size.neurons,), "behavior": (3,), "pupil_center": (2,)}
    for modality, shape in shapes.items():
        names = sorted(p.name for p in (static / "data" / modality).iterdir())
        assert names == sorted(f"{i}.npy" for i in range(size.trials))
        arrays = _trials(static, modality)
        assert {a.shape for a in arrays} == {shape} and {a.dtype for a in arrays} == {np.dtype(np.float32)}
    images = np.stack(_trials(static, "images"))
    assert images.min() >= 0 and images.max() <= 255 and np.array_equal(images, np.round(images))
    tiers, ids = _meta(static, "trials", "tiers"), _meta(static, "trials", "frame_image_id")
    assert {t: int((tiers == t).sum()) for t in np.unique(tiers)} == size.tiers
    for tier in ("test", "final_test"):
        unique, counts = np.unique(ids[tiers == tier], return_counts=True)
        assert len(unique) == size.repeated and set(counts) == {size.repeats}
        for image_id in unique:
            same = np.flatnonzero(ids == image_id)
            assert all(np.array_equal(images[same[0]], images[j]) for j in same[1:])
    singles = ids[np.isin(tiers, ["train", "validation"])]
    assert len(np.unique(singles)) == len(singles)
    test, final_test = set(ids[tiers == "test"]), set(ids[tiers == "final_test"])
    assert not (test & final_test or (test | final_test) & set(singles))
    responses = np.stack(_trials(static, "responses"))
    assert responses.min() >= 0 and not responses[tiers == "final_test"].any()
    assert responses[tiers == "test"].any() and responses[tiers == "train"].any()


def test_static_order_is_hidden_in_files_but_recoverable(static):
    rank = _meta(static, "trials", "trial_idx")
    assert rank.dtype.kind == "i" and sorted(rank) == list(range(len(rank)))
    assert not np.array_equal(rank, np.arange(len(rank)))
    stamps = _meta(static, "trials", "frame_trial_ts")
    assert all(s.startswith("Timestamp('") and s.endswith("')") for s in stamps)
    times = np.array([datetime.strptime(s[11:-2], "%Y-%m-%d %H:%M:%S") for s in stamps])
    assert np.all(np.diff(times[np.argsort(rank)]).astype("timedelta64[s]").astype(int) >= 1)


def test_static_meta_and_statistics(static):
    (size,) = session_sizes("static", "tiny")
    n = size.neurons
    assert _meta(static, "neurons", "cell_motor_coordinates").shape == (n, 3)
    for field in ("unit_ids", "area", "layer", "animal_ids", "sessions", "scan_idx"):
        assert _meta(static, "neurons", field).shape == (n,)
    assert len(np.unique(_meta(static, "neurons", "unit_ids"))) == n
    stats = static / "meta" / "statistics"
    expected = {"images": (), "responses": (n,), "behavior": (3,), "pupil_center": (2,)}
    for modality, shape in expected.items():
        for stat in ("mean", "std", "min", "max", "median"):
            assert np.load(stats / modality / "all" / f"{stat}.npy").shape == shape
    train = _meta(static, "trials", "tiers") == "train"
    responses = np.stack(_trials(static, "responses"))[train]
    assert np.allclose(np.load(stats / "responses/all/std.npy"), responses.std(axis=0), rtol=1e-5)
    images = np.stack(_trials(static, "images"))[train]
    assert np.isclose(np.load(stats / "images/all/mean.npy"), images.mean(), rtol=1e-6)
    assert np.isclose(np.load(stats / "images/all/median.npy"), np.median(images))


def test_video_layout(video):
    size = session_sizes("video", "tiny")[0]
    assert video.name.startswith("dynamic") and "-Video-" in video.name
    t_max = size.stored_frames
    shapes = {"videos": (36, 64, t_max), "responses": (size.neurons, t_max), "behavior": (2, t_max),
              "pupil_center": (2, t_max)}
    arrays = {m: _trials(video, m) for m in shapes}
    for modality, shape in shapes.items():
        assert len(arrays[modality]) == size.trials
        assert {a.shape for a in arrays[modality]} == {shape}
        assert {a.dtype for a in arrays[modality]} == {np.dtype(np.float32)}
    tiers = _meta(video, "trials", "tiers")
    assert {t: int((tiers == t).sum()) for t in np.unique(tiers)} == size.tiers
    assert np.array_equal(_meta(video, "trials", "trial_idx"), np.arange(size.trials))
    truth = load_ground_truth(video)
    shown = ~truth["empty"]
    lengths = np.array([np.argmax(np.isnan(v[0, 0])) for v in arrays["videos"]])
    np.testing.assert_array_equal(lengths[shown], truth["lengths"][shown])
    assert lengths[shown].min() >= size.frames[0] and lengths.max() == size.frames[1] < t_max
    assert len(set(lengths)) > 1
    for i, length in enumerate(lengths):
        for modality in ("videos", "responses"):
            a = arrays[modality][i]
            assert np.isfinite(a[..., :length]).all() and np.isnan(a[..., length:]).all(), (modality, i)
    assert not truth["hidden"].any() and all(arrays["responses"][i][:, :lengths[i]].any() for i in np.flatnonzero(shown))
    clips = truth["stimulus_ids"]
    for tier in ("oracle", "live_test_main", "final_test_main"):
        unique, counts = np.unique(clips[tiers == tier], return_counts=True)
        assert len(unique) == size.repeated and set(counts) == {size.repeats}
        for clip_id in unique:
            same = np.flatnonzero(clips == clip_id)
            assert all(np.array_equal(arrays["videos"][same[0]], arrays["videos"][j], equal_nan=True)
                       for j in same[1:])
    stats = video / "meta" / "statistics"
    reached = np.arange(t_max) < size.frames[1]
    for modality, shape in (("responses", (size.neurons,)), ("behavior", (2,)), ("pupil_center", (2,)),
                            ("videos", (36, 64))):
        for stat in ("mean", "std", "min", "max", "median"):
            value = np.load(stats / modality / "all" / f"{stat}.npy")
            assert value.shape == shape + (t_max,)
            assert np.isfinite(value[..., reached]).all() and np.isnan(value[..., ~reached]).all(), (modality, stat)


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    def files(seed: int, out: Path) -> dict[str, bytes]:
        (folder,) = synthesize(out, "static", "tiny", trials=60, neurons=8, seed=seed)
        paths = ["data/images/3.npy", "data/responses/7.npy", "data/behavior/2.npy", "meta/trials/tiers.npy",
                 "meta/statistics/responses/all/std.npy"]
        contents = {p: (folder / p).read_bytes() for p in paths}
        contents["rates"] = (ground_truth_folder(folder) / "rates.npy").read_bytes()
        return contents | {"name": folder.name.encode()}

    first, again, other = files(0, tmp_path / "a"), files(0, tmp_path / "b"), files(1, tmp_path / "c")
    assert first == again
    assert all(first[key] != other[key] for key in first)


def test_history_scale_multiplies_the_history_coupling_and_is_recorded(tmp_path):
    """The benchmark's knob: the same neurons with a stronger history effect; 1 writes the default bytes."""
    def truth(scale: float, out: Path) -> dict:
        (folder,) = synthesize(out, "static", "tiny", trials=60, neurons=8, seed=0, history_scale=scale)
        return load_ground_truth(folder)

    default, one, doubled = truth(1.0, tmp_path / "a"), truth(1, tmp_path / "b"), truth(2.0, tmp_path / "c")
    assert np.array_equal(default["rates"], one["rates"])
    np.testing.assert_allclose(doubled["neurons"]["history_beta"], 2 * default["neurons"]["history_beta"], rtol=1e-6)
    assert np.array_equal(doubled["neurons"]["rf_sigma_px"], default["neurons"]["rf_sigma_px"])
    assert not np.array_equal(doubled["rates"], default["rates"])
    assert (default["params"]["history"]["beta_scale"], doubled["params"]["history"]["beta_scale"]) == (1.0, 2.0)


def test_ground_truth_is_separate_and_consistent(static, video):
    for folder in (static, video):
        truth_folder = ground_truth_folder(folder)
        assert truth_folder.parent.name == "ground_truth" and truth_folder.parent.parent == folder.parent
        assert not (truth_folder / "data").exists() and not (folder / "ground_truth").exists()
        truth = load_ground_truth(folder)
        assert truth["params"]["history"]["tau_trials"] == HISTORY_TAU
        oracle = truth["oracle_correlation"]
        assert oracle.shape == (len(_meta(folder, "neurons", "unit_ids")),)
        assert np.all((oracle >= -1) & (oracle <= 1)) and np.mean(oracle > 0) >= 0.9 and np.median(oracle) > 0.3
        rates = np.asarray(truth["rates"])
        responses = np.stack(_trials(folder, "responses"))
        train = _meta(folder, "trials", "tiers") == "train"
        flat = (lambda a: a[train].transpose(0, 2, 1).reshape(-1, a.shape[1])) if rates.ndim == 3 else \
            (lambda a: a[train])
        assert np.nanmin(rates) >= 0 and np.median(neuron_correlation(flat(responses), flat(rates))) > 0.3


def test_load_ground_truth_of_a_real_session_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="ground truth"):
        load_ground_truth(tmp_path / "static1-2-3-GrayImageNet-abc")


def _history_fit(folder: Path, taus: list[float], order: np.ndarray | None = None) -> np.ndarray:
    """Poisson log-likelihood of the responses for each tau, the history rebuilt from the recorded responses
    in ``order`` (default: presentation order); zeroed trials do not advance it, as in Model 4."""
    truth, neurons = load_ground_truth(folder), load_ground_truth(folder)["neurons"]
    responses, rates = np.stack(_trials(folder, "responses")), np.asarray(truth["rates"])
    if responses.ndim == 3:
        with warnings.catch_warnings():  # 'none' trials shipped all NaN: left out below
            warnings.simplefilter("ignore", RuntimeWarning)
            responses, rates = np.nanmean(responses, axis=2), np.nanmean(rates, axis=2)
    beta, amplitude = neurons["history_beta"], neurons["amplitude"]
    base = rates / np.exp(np.clip(beta * truth["history"], -2, 2))
    tiers = _meta(folder, "trials", "tiers")
    labelled = ~np.char.startswith(tiers, "final_test") if "test" in tiers else tiers != "none"
    order = np.argsort(_meta(folder, "trials", "trial_idx")) if order is None else order
    scores = []
    for tau in taus:
        a, h, history = 1 - np.exp(-1 / tau), np.zeros(len(beta)), np.zeros_like(responses)
        for i in order:
            history[i] = h
            if labelled[i]:
                h = (1 - a) * h + a * (responses[i] / (amplitude * neurons["rate_scale"]) - 1)
        rate = base * np.exp(np.clip(beta * history, -2, 2)) / amplitude
        scores.append(np.sum((responses / amplitude * np.log(rate) - rate)[labelled]))
    return np.array(scores)


@pytest.mark.parametrize("kind", ["static", "video"])
def test_history_tau_is_recovered_from_the_recorded_responses(kind, static, video):
    folder = {"static": static, "video": video}[kind]
    taus = [1, 2, 4, HISTORY_TAU, 16, 32]
    scores = _history_fit(folder, taus)
    assert taus[int(np.argmax(scores))] in (4, HISTORY_TAU, 16)
    assert scores[3] > scores[0] + 10


def test_history_runs_over_presentation_order_not_file_order(static):
    n = len(_meta(static, "trials", "tiers"))
    presentation = _history_fit(static, [HISTORY_TAU])
    files = _history_fit(static, [HISTORY_TAU], order=np.arange(n))
    assert presentation[0] > files[0] + 10


def test_a_carried_over_population_state_multiplies_the_rates_when_asked(tmp_path, static):
    (folder,) = synthesize(tmp_path, "static", "tiny", seed=0, state_strength=0.5)
    on, off = load_ground_truth(folder), load_ground_truth(static)  # same seed, the state off
    assert "population_state" not in off and "state_loadings" not in off["neurons"]
    assert on["params"]["state"]["strength"] == 0.5 and off["params"]["state"]["strength"] == 0.0
    for name in ("data/images/5.npy", "data/behavior/5.npy", "meta/trials/trial_idx.npy"):
        assert (folder / name).read_bytes() == (static / name).read_bytes()
    state, loadings = np.asarray(on["population_state"]), on["neurons"]["state_loadings"]
    assert state.shape == (240, STATE_DIMS) and loadings.shape == (40, STATE_DIMS)

    def without_history(truth):
        beta = truth["neurons"]["history_beta"]
        return np.asarray(truth["rates"], np.float64) / np.exp(np.clip(beta * truth["history"], -2, 2))

    np.testing.assert_allclose(np.log(without_history(on) / without_history(off)), state @ loadings.T, atol=2e-5)
    presented = state[np.argsort(_meta(folder, "trials", "trial_idx"))]
    lag_one = np.mean([np.corrcoef(presented[:-1, k], presented[1:, k])[0, 1] for k in range(STATE_DIMS)])
    assert lag_one > np.exp(-1 / STATE_TAU) - 0.15  # carried over: AR(1) at exp(-1/tau) = 0.90 per trial


def test_realistic_sizes_without_writing():
    static = session_sizes("static", "realistic")
    assert len(static) == 7 and {s.trials for s in static} == {6000}
    assert 7000 <= min(s.neurons for s in static) and max(s.neurons for s in static) == 8000
    assert static[0].tiers["test"] == static[0].tiers["final_test"] == 100 * 10
    assert static[0].tiers["train"] == 3600 and 1.0e9 < static[0].nbytes < 1.2e9
    video = session_sizes("video", "realistic")
    assert len(video) == 10 and [s.hidden for s in video] == [False] * 5 + [True] * 5
    assert [s.trials for s in video] == [740, 720, 740, 720, 739, 711, 682, 711, 739, 712]
    assert video[0].neurons == 7440 and video[0].frames == (300, 320)
    assert video[0].tiers["oracle"] == video[0].tiers["live_test_main"] == 60 and video[0].tiers["none"] == 21
    assert "none" not in video[5].tiers and video[5].tiers["live_test_bonus"] == 30
    assert 7e9 < video[0].nbytes < 1e10
    (key_a, name_a), (key_f, name_f) = session_names("video", 0, 2, real=True)
    assert name_a.startswith("dynamic29156-11-10-Video-") and name_f.startswith("dynamic29515-10-12-Video-")
    assert (key_a, key_f) == ("29156-11-10", "29515-10-12")
    assert [s.hidden for s in session_sizes("video", "realistic", sessions=2)] == [False, True]
    demo = session_sizes("static", "demo", sessions=3, trials=500, neurons=50)
    assert [s.neurons for s in demo] == [50, 48, 47] and demo[0].trials == 500


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "audio"}, "kind"),
    ({"preset": "huge"}, "preset"),
    ({"sessions": 0}, "sessions"),
    ({"trials": -5}, "trials"),
    ({"neurons": 2.5}, "neurons"),
    ({"trials": 20}, "trials: 20"),
    ({"seed": -1}, "seed"),
    ({"state_strength": -0.1}, "state_strength"),
    ({"history_scale": -1.0}, "history_scale"),
])
def test_bad_arguments_are_user_errors(tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        synthesize(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())
