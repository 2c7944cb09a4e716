"""Synthetic SENSORIUM sessions in the organisers' exact layouts, with known ground truth beside them.

``synthesize`` writes ``out/<session folder>`` through ``layout.write_session``, so the real reader is what
tests exercise, and ``out/ground_truth/<session folder>`` (see ``ground_truth``). Each trial, in presentation
order (static: step = trial; video: step = frame, history per trial)::

    rate_n   = stimulus_rate_n(eye-shifted stimulus) * exp(running_coupling_n z(running)
               + pupil_coupling_n z(pupil) + drift_coupling_n drift(trial) + clip(history_beta_n h_n, -2, 2)
               + state_strength * loadings_n . s(trial))
    response = amplitude_n * Poisson(rate_n * Gamma(3, 1/3))
    h_n     <- (1 - a) h_n + a (mean over frames of response_n / (amplitude_n rate_scale_n) - 1),
               a = 1 - exp(-1 / tau), h_n = 0 before the first trial

So only trials presented earlier count, with one true tau (``HISTORY_TAU`` trials) in every session. Every
presented trial advances the history, test tiers included, as in the animal. ``s`` is a hidden population
state of ``STATE_DIMS`` AR(1) latents carried over from trial to trial (``STATE_TAU`` trials), each neuron
reading it through its own loadings; ``state_strength`` (default 0: off, the sessions as before) is the
std of its log-rate term. Sessions are simulated in
batches and written trial by trial (stimuli are made again from their ids, responses pass through a
memory-mapped scratch file), so realistic sizes never sit in memory. Static ``meta/statistics`` are over the
train tier and the zeroed ``final_test`` holds zeros. Video sessions ship what ``synthetic_release`` makes of
the truth: per-frame statistics over every trial that ships the modality, hidden test tiers of new mice
(their true responses stay in the ground truth), empty ``none`` trials, eye-tracker dropouts.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

from ..atomic import atomic_path
from ..errors import expect
from .ground_truth import as_samples, ground_truth_folder, neuron_correlation
from .layout import STATISTICS, STIMULUS, trial_statistics, write_session
from .synthetic_behavior import EYE_REFERENCE, gain_drift, population_state, traces, zscore
from .synthetic_plan import (
    HIDDEN_TIERS, TEST_TIER, ZEROED_TIER, SessionSize, plan_trials, session_names, session_sizes, timestamps,
    uses_real_names,
)
from .synthetic_release import (
    add_dropouts, integer_coordinates, quiet_statistics, released, released_responses, released_stimulus,
    video_statistics,
)
from .synthetic_population import TEMPORAL_TAPS, Population, sample_parameters, sample_responses
from .synthetic_stimuli import GREY_MEAN, MODEL_SHAPE, clip, downscale, image, shift_frames, standardise

HISTORY_TAU = 8.0          # trials: the true history time constant of every synthetic session
HISTORY_CLIP = 2.0         # bound on |history_beta * h| in the log rate
STATE_DIMS = 3             # latents of the carried-over population state
STATE_TAU = 10.0           # trials: its AR(1) time constant
EYE_GAIN = 0.15            # model px of receptive-field shift per camera px of eye position
STEPS_PER_SECOND = {"static": 1.0, "video": 30.0}
CALIBRATION = {"static": 64, "video": 4}    # calibration images / clips, never shown in a session
CACHE_BYTES = 2**26        # sessions whose stimuli fit keep them from simulation to writing
BATCH_FLOATS = 2**24       # drive values per simulation batch: bounds memory at realistic sizes
BLOCK_FLOATS = 2**25       # values per block when statistics or correlations read back responses
NEURONS_STREAM, BEHAVIOR_STREAM, NOISE_STREAM, STATE_STREAM, CALIBRATION_ID = 3, 4, 5, 6, 10**9


def synthesize(out: str | Path, kind: str = "static", preset: str = "tiny", sessions: int | None = None,
               trials: int | None = None, neurons: int | None = None, seed: int = 0,
               state_strength: float = 0.0, history_scale: float = 1.0) -> list[Path]:
    """Write synthetic sessions and their ground truth under ``out``; return the session folders.

    The same arguments write the same bytes. ``sessions``/``trials``/``neurons`` override the preset;
    ``state_strength`` > 0 adds the carried-over population state (module docstring); ``history_scale``
    multiplies every neuron's ``history_beta`` (1: the default strength), so a benchmark can make the history
    effect large enough to tell time constants apart.
    """
    sizes = session_sizes(kind, preset, sessions, trials, neurons)
    expect(isinstance(seed, int) and seed >= 0, f"seed: expected a non-negative integer, found {seed!r}")
    expect(isinstance(state_strength, (int, float)) and state_strength >= 0,
           f"state_strength: expected a number >= 0, found {state_strength!r}")
    expect(isinstance(history_scale, (int, float)) and history_scale >= 0,
           f"history_scale: expected a number >= 0, found {history_scale!r}")
    names = session_names(kind, seed, len(sizes), uses_real_names(kind, preset, len(sizes)))
    return [SyntheticSession(seed, index, key, name, size, float(state_strength), history_scale).write(Path(out))
            for index, (size, (key, name)) in enumerate(zip(sizes, names))]


def _grey_statistics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Scalar statistics of integer grey levels from their histogram (exact, without holding pixels)."""
    values, total = np.arange(len(counts)), counts.sum()
    mean = (values * counts).sum() / total
    cumulative = np.cumsum(counts)
    lower, upper = np.searchsorted(cumulative, [(total - 1) // 2, total // 2], side="right")
    return {
        "mean": np.array(mean), "std": np.array(np.sqrt(((values - mean) ** 2 * counts).sum() / total)),
        "min": np.array(float(values[counts > 0][0])), "max": np.array(float(values[counts > 0][-1])),
        "median": np.array((lower + upper) / 2.0),
    }


class SyntheticSession:
    """One session's plan, neurons and behaviour; ``write`` simulates it and writes both folders."""

    def __init__(self, seed: int, index: int, key: str, name: str, size: SessionSize, state_strength: float = 0.0,
                 history_scale: float = 1.0):
        self.seed, self.index, self.key, self.name, self.size = seed, index, key, name, size
        self.state_strength, self.history_scale = state_strength, float(history_scale)
        self.kind, self.video = size.kind, size.kind == "video"
        self.frames = size.stored_frames
        self.plan = plan_trials(seed, index, size)
        self._greys: dict[int, np.ndarray] | None = {} if size.nbytes < CACHE_BYTES else None
        rng = np.random.default_rng([seed, NEURONS_STREAM, index])
        self.params, self.retinotopy = sample_parameters(rng, size.neurons, self.video)
        if self.history_scale != 1.0:
            self.params["history_beta"] = (self.params["history_beta"] * self.history_scale).astype(np.float32)
        self.population = Population(self.params)
        calibration = [self._model_input(self._make(CALIBRATION_ID + k, self.frames), self.frames)
                       for k in range(CALIBRATION[self.kind])]
        self.population.calibrate(np.stack(calibration), skip=TEMPORAL_TAPS if self.video else 0)
        self._lay_out_behaviour(np.random.default_rng([seed, BEHAVIOR_STREAM, index]))
        self.state, self.state_loadings = None, None  # by file index; drawn from their own stream, so 0 is as before
        if state_strength > 0:
            latents, loadings = population_state(np.random.default_rng([seed, STATE_STREAM, index]), size.trials,
                                                 size.neurons, STATE_DIMS, STATE_TAU)
            self.state = latents[self.plan.rank].astype(np.float32)
            self.state_loadings = (state_strength * loadings).astype(np.float32)

    # stimuli -------------------------------------------------------------------------------------------
    def _make(self, stimulus_id: int, length: int) -> np.ndarray:
        """Grey stimulus in time-first layout: static (144, 256); video (T_max, 36, 64), NaN past length."""
        if self._greys is not None and stimulus_id in self._greys:
            return self._greys[stimulus_id]
        if self.video:
            grey = clip(self.seed, stimulus_id, self.frames)
            grey[length:] = np.nan
        else:
            grey = image(self.seed, stimulus_id)
        if self._greys is not None and stimulus_id < CALIBRATION_ID:
            grey.flags.writeable = False
            self._greys[stimulus_id] = grey
        return grey

    def _model_input(self, grey: np.ndarray, length: int) -> np.ndarray:
        """What the neurons see: (T, 36, 64) standardised, mean grey past the trial's end."""
        if not self.video:
            return standardise(downscale(grey))[None]
        return standardise(np.where(np.isnan(grey), GREY_MEAN, grey))

    def _stored(self, i: int) -> np.ndarray:
        if self.video:  # from the grey levels kept during the simulation
            return np.ascontiguousarray(released_stimulus(self.plan, i, self._clips[i]).transpose(1, 2, 0))
        return self._make(self.plan.stimulus_ids[i], self.plan.lengths[i])[None]

    # behaviour -----------------------------------------------------------------------------------------
    def _lay_out_behaviour(self, rng: np.random.Generator) -> None:
        """Traces over the presentation timeline, cut per trial and laid out by file index."""
        plan, n = self.plan, self.size.trials
        steps = plan.lengths[plan.presentation]
        trace = traces(rng, int(steps.sum()), STEPS_PER_SECOND[self.kind])
        self.drift = gain_drift(rng, n)[plan.rank].astype(np.float32)
        starts = np.empty(n, np.int64)
        starts[plan.presentation] = np.cumsum(steps) - steps
        frame = np.arange(self.frames)
        valid = frame[None, :] < plan.lengths[:, None]
        step = np.where(valid, starts[:, None] + frame[None, :], 0)       # (n, T) timeline index

        def lay(x: np.ndarray) -> np.ndarray:
            laid = x[step].astype(np.float32)
            laid[~valid] = np.nan
            return laid

        self.running_z = np.where(valid, zscore(trace["running"])[step], 0).astype(np.float32)
        self.pupil_z = np.where(valid, zscore(trace["pupil"])[step], 0).astype(np.float32)
        self.shifts = np.where(valid[..., None], EYE_GAIN * (trace["eye"][step] - EYE_REFERENCE), 0)
        if self.video:
            self.behavior = np.stack([lay(trace["pupil"]), lay(trace["running"])], axis=1)
            self.pupil_center = lay(trace["eye"]).transpose(0, 2, 1).copy()
            add_dropouts(self.plan, self.behavior, self.pupil_center)
        else:
            first = step[:, 0]
            self.behavior = np.column_stack([trace["pupil"], trace["dpupil"], trace["running"]])[first]
            self.behavior = self.behavior.astype(np.float32)
            self.pupil_center = trace["eye"][first].astype(np.float32)

    def _log_gain(self, files: np.ndarray) -> np.ndarray:
        """Behaviour, drift and population-state part of the log rate, (B, T, N)."""
        p = self.params
        log_gain = (self.running_z[files][..., None] * p["running_coupling"]
                    + self.pupil_z[files][..., None] * p["pupil_coupling"]
                    + self.drift[files][:, None, None] * p["drift_coupling"])
        if self.state is not None:
            log_gain = log_gain + (self.state[files] @ self.state_loadings.T)[:, None, :]
        return log_gain

    # simulation ----------------------------------------------------------------------------------------
    def _per_trial(self, values: np.ndarray) -> np.ndarray:
        """(L, N) -> one trial's file layout: static (N,); video (N, T_max), NaN past L."""
        if not self.video:
            return values[0]
        laid = np.full((values.shape[1], self.frames), np.nan, np.float32)
        laid[:, :len(values)] = values.T
        return laid

    def _simulate(self, responses: np.ndarray, rates: np.ndarray, history: np.ndarray) -> np.ndarray:
        """Run the session in presentation order; fill the arrays by file index; return the train grey
        histogram."""
        plan, p = self.plan, self.params
        alpha = np.float32(1 - np.exp(-1 / HISTORY_TAU))
        norm = p["amplitude"] * p["rate_scale"]
        h = np.zeros(self.size.neurons, np.float32)
        counts = np.zeros(256, np.int64)
        batch = max(1, min(256, BATCH_FLOATS // (self.frames * self.population.filters.shape[1])))
        order = plan.presentation
        for start in range(0, len(order), batch):
            files = order[start:start + batch]
            greys = [self._make(plan.stimulus_ids[i], plan.lengths[i]) for i in files]
            for i, grey in zip(files, greys):
                if self.video:
                    self._clips[i] = np.nan_to_num(grey, nan=0.0)
                elif plan.tiers[i] == "train":
                    counts += np.bincount(grey[np.isfinite(grey)].astype(np.int64), minlength=256)
            inputs = np.stack([self._model_input(g, plan.lengths[i]) for i, g in zip(files, greys)])
            base = self.population.rates(shift_frames(inputs, self.shifts[files])) * np.exp(self._log_gain(files))
            for b, i in enumerate(files):
                history[i] = h
                rate = base[b, :plan.lengths[i]] * np.exp(np.clip(p["history_beta"] * h, -HISTORY_CLIP, HISTORY_CLIP))
                noise = np.random.default_rng([self.seed, NOISE_STREAM, self.index, int(i)])
                response = sample_responses(noise, rate, p["amplitude"])
                rates[i] = self._per_trial(rate * p["amplitude"])
                responses[i] = 0 if plan.tiers[i] == ZEROED_TIER and not self.video else self._per_trial(response)
                h = (1 - alpha) * h + alpha * (response.mean(axis=0) / norm - 1)
        return counts

    def _neuron_blocks(self, fn, rows: np.ndarray, *arrays: np.ndarray) -> list:
        """``fn`` over blocks of neurons of the trials ``rows``, so no realistic array is read whole."""
        block = max(1, BLOCK_FLOATS // (len(rows) * self.frames))
        return [fn(*(a[rows, lo:lo + block] for a in arrays)) for lo in range(0, self.size.neurons, block)]

    def _statistics(self, responses: np.ndarray, counts: np.ndarray) -> dict:
        """Static: over the train tier. Video: over every trial that ships the modality (NaN-aware)."""
        plan = self.plan
        if self.video:
            shown, labelled = np.flatnonzero(~plan.empty), np.flatnonzero(released(plan))
            stimuli = video_statistics(self._clips, plan.lengths, shown)
        else:
            shown = labelled = np.flatnonzero(plan.tiers == "train")
            stimuli = _grey_statistics(counts)
        blocks = self._neuron_blocks(quiet_statistics, labelled, responses)
        return {
            STIMULUS[self.kind]: stimuli,
            "responses": {s: np.concatenate([b[s] for b in blocks]) for s in STATISTICS},
            "behavior": quiet_statistics(self.behavior[shown]),
            "pupil_center": quiet_statistics(self.pupil_center[shown]),
        }

    def _oracle(self, responses: np.ndarray, rates: np.ndarray) -> np.ndarray:
        """Correlation a perfect model reaches on the labelled test tier (video: frames concatenated)."""
        test = np.flatnonzero(self.plan.tiers == TEST_TIER[self.kind])
        blocks = self._neuron_blocks(lambda r, q: neuron_correlation(as_samples(r), as_samples(q)),
                                     test, responses, rates)
        return np.concatenate(blocks).astype(np.float32)

    # writing -------------------------------------------------------------------------------------------
    def _trial_meta(self) -> dict[str, np.ndarray]:
        plan = self.plan
        if self.video:
            return {"tiers": plan.tiers, "trial_idx": np.arange(self.size.trials)}
        return {
            "tiers": plan.tiers,
            "frame_image_id": plan.stimulus_ids,
            "frame_image_class": np.full(self.size.trials, "pink_noise"),
            "trial_idx": plan.rank.astype(np.int64),
            "frame_trial_ts": timestamps(self.seed, self.index, plan.rank),
        }

    def _neuron_meta(self) -> dict[str, np.ndarray]:
        n = self.size.neurons
        animal, session, scan = (int(x) for x in self.key.split("-"))
        rng = np.random.default_rng([self.seed, NEURONS_STREAM, self.index, 1])
        coords = self.params["coords_um"]
        return {
            "unit_ids": np.sort(rng.choice(np.arange(1, 2 * n + 1), n, replace=False)),
            "cell_motor_coordinates": integer_coordinates(coords) if self.video else coords,
            "area": np.full(n, "V1"),
            "layer": np.full(n, "L2/3"),
            "animal_ids": np.full(n, animal),
            "sessions": np.full(n, session),
            "scan_idx": np.full(n, scan),
        }

    def write(self, out: Path) -> Path:
        """Simulate, then write the session folder and its ground truth folder (each atomically)."""
        n, neurons = self.size.trials, self.size.neurons
        shape = (n, neurons, self.frames) if self.video else (n, neurons)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(ground_truth_folder(out / self.name)) as truth, \
                tempfile.TemporaryDirectory(prefix=".synth-", dir=out) as scratch:
            truth.mkdir()
            responses = open_memmap(Path(scratch) / "responses.npy", "w+", np.float32, shape)
            if self.video:  # grey levels of every clip, kept for the files and the per-frame statistics
                self._clips = open_memmap(Path(scratch) / "clips.npy", "w+", np.uint8,
                                          (n, self.frames, *MODEL_SHAPE))
            rates = open_memmap(truth / "rates.npy", "w+", np.float32, shape)
            history = open_memmap(truth / "history.npy", "w+", np.float32, (n, neurons))
            counts = self._simulate(responses, rates, history)
            data = {
                STIMULUS[self.kind]: (self._stored(i) for i in range(n)),
                "responses": (released_responses(self.plan, i, np.asarray(r)) if self.video else np.asarray(r)
                              for i, r in enumerate(responses)),
                "behavior": self.behavior,
                "pupil_center": self.pupil_center,
            }
            folder = write_session(out / self.name, data, self._trial_meta(), self._neuron_meta(),
                                   self._statistics(responses, counts))
            self._write_truth(truth, self._oracle(responses, rates))
            if self.video and self.plan.hidden.any():
                hidden = np.flatnonzero(self.plan.hidden)
                np.save(truth / "hidden_responses.npy", responses[hidden])
            rates.flush()
            history.flush()
        return folder

    def _write_truth(self, truth: Path, oracle: np.ndarray) -> None:
        plan, population = self.plan, self.population
        arrays = {"oracle_correlation": oracle, "stimulus_ids": plan.stimulus_ids, "gain_drift": self.drift,
                  "rank": plan.rank, "lengths": plan.lengths}
        if self.video:
            arrays |= {"released_lengths": plan.released_lengths, "hidden": plan.hidden, "empty": plan.empty,
                       "dropouts": plan.dropouts}
        if self.state is not None:
            arrays["population_state"] = self.state
        for name, array in arrays.items():
            np.save(truth / f"{name}.npy", array)
        (truth / "neurons").mkdir()
        neurons = {**self.params, "drive_mean": population.center, "drive_std": population.scale,
                   "rate_norm": population.norm}
        if self.state is not None:
            neurons["state_loadings"] = self.state_loadings
        for name, array in neurons.items():
            np.save(truth / "neurons" / f"{name}.npy", array)
        (truth / "params.json").write_text(json.dumps(self._description(), indent=2, sort_keys=True) + "\n")

    def _description(self) -> dict:
        return {
            "kind": self.kind, "seed": self.seed, "session_index": self.index, "key": self.key,
            "name": self.name, "trials": self.size.trials, "neurons": self.size.neurons,
            "tiers": self.size.tiers, "frames": list(self.size.frames) if self.video else None,
            "test_tier": TEST_TIER[self.kind],
            "hidden_tiers": (list(HIDDEN_TIERS) if self.size.hidden else []) if self.video else [ZEROED_TIER],
            "release": "video: hidden.npy marks trials whose responses ship as zeros (true ones in "
                       "hidden_responses.npy, rows in hidden.npy order); empty.npy 'none' trials shipped all NaN; "
                       "dropouts.npy [start, stop) of NaN in pupil_center and behavior[0]; released_lengths.npy "
                       "the valid frames to the first NaN of any modality (neuralpredictors CutVideos)"
                       if self.video else "static: final_test responses ship as zeros",
            "order": "rank.npy: presentation rank per file; static: = meta/trials/trial_idx and the order of "
                     "frame_trial_ts; video: files are in presentation order",
            "history": {
                "tau_trials": HISTORY_TAU, "clip": HISTORY_CLIP, "state": "history.npy (h before each trial)",
                "beta_scale": self.history_scale,
                "formula": "rate *= exp(clip(history_beta * h, -clip, clip)), neurons/history_beta.npy already "
                           "times beta_scale; after each presented trial "
                           "h <- (1 - a) h + a (mean_frames(response) / (amplitude * rate_scale) - 1), "
                           "a = 1 - exp(-1 / tau), h = 0 at the start; test tiers advance it too",
            },
            "state": {
                "strength": self.state_strength, "dims": STATE_DIMS, "tau_trials": STATE_TAU,
                "formula": "log rate += state_loadings @ s(trial) (population_state.npy, neurons/state_loadings.npy, "
                           "written when strength > 0); s: unit-variance AR(1) latents over presentation order, "
                           "state_loadings = strength * N(0, 1 / dims) per neuron and latent",
            },
            "rate": "rate_norm * (softplus(slope * ((drive - drive_mean) / drive_std - threshold)) + 0.1) "
                    "* exp(running_coupling z(running) + pupil_coupling z(pupil) + drift_coupling drift "
                    "+ state_loadings @ s) "
                    "* history term; drive = Gabor (simple) or quadrature energy (complex) on the "
                    "eye-shifted 36x64 stimulus (video: after temporal_kernel); rates.npy = amplitude * rate",
            "noise": "response = amplitude * Poisson(rate * Gamma(shape 3, scale 1/3))",
            "behavior": "z() standardises a trace over the session's timeline; running and pupil are "
                        "meta behaviour channels; gain_drift.npy is the per-trial drift",
            "eye": {"reference_px": EYE_REFERENCE.tolist(), "gain": EYE_GAIN,
                    "formula": "receptive field centre on screen = rf_center_px + gain * "
                               "(pupil_center - reference_px), in model px (x, y)"},
            "retinotopy": self.retinotopy,
            "stimuli": "static: 1/f noise images, model sees 4x4 block means; video: drifting 1/f noise",
            "statistics": "video: per frame over every trial shipping the modality (videos per pixel too); "
                          "static: over the train tier, images as scalars over their pixels",
            "oracle": f"oracle_correlation.npy: per neuron corr(responses, rates) over tier "
                      f"{TEST_TIER[self.kind]!r}" + (", frames of its trials concatenated" if self.video else ""),
        }
