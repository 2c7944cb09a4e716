"""Sliding-window prediction of whole video trials (a model's predict_window, frame_step, predict_stride)."""
import numpy as np
import pytest
import torch
from torch import nn

from sensorium_models.data.batches import SessionTensors
from sensorium_models.models import build_model
from sensorium_models.prediction import predict, predict_tensors, windows
from training_builders import learnable_video_session


@pytest.mark.parametrize("length, window, step, stride, expected", [
    (6, 3, 1, 1, [(0, 3), (1, 3), (2, 3), (3, 3)]),
    (6, 3, 1, 2, [(0, 3), (2, 3), (3, 3)]),              # the last window always ends on the last frame
    (7, 2, 2, 1, [(0, 2), (2, 2), (4, 2), (1, 2), (3, 2)]),  # phases 0,2,4,6 and 1,3,5
    (5, None, 1, 1, [(0, 5)]),
    (5, 8, 1, 1, [(0, 5)]),
    (5, None, 2, 1, [(0, 3), (1, 2)]),
    (2, 4, 3, 1, [(0, 1), (1, 1)]),
])
def test_windows_cover_every_frame_of_every_phase(length, window, step, stride, expected):
    assert windows(length, window, step, stride) == expected


@pytest.mark.parametrize("length", [32, 40, 41, 300])
def test_dwiseneuros_windows_are_the_predictors(length):
    """lRomul/sensorium src/predictors.py: for every end frame i in 30..L-1, the frames i-30, i-28, …, i."""
    theirs = {tuple(range(end - 30, end + 1, 2)) for end in range(30, length)}
    ours = {tuple(range(start, start + 2 * frames, 2)) for start, frames in windows(length, 16, step=2)}
    assert ours == theirs and len(windows(length, 16, step=2)) == length - 30
    # at 31 frames theirs never covers the odd frames (they stay 0); ours predicts them in a 15-frame window
    assert windows(31, 16, step=2) == [(0, 16), (1, 15)]


class WindowProbe(nn.Module):
    """Predicts, for every frame of a window, either the window's first frame or the frame's own stimulus."""

    per_frame = True

    def __init__(self, window, step=1, stride=1, report="start"):
        super().__init__()
        self.predict_window, self.frame_step, self.predict_stride, self.report = window, step, stride, report

    def forward(self, batch):
        if self.report == "start":
            values = batch.frames[:, None].float().expand(*batch.stimuli.shape[:2])
        else:
            values = batch.stimuli.mean((2, 3))
        return values[..., None].expand(-1, -1, 2)


def _tensors(lengths):
    """Two trials whose frame f shows the value f everywhere (zero past their length), two neurons."""
    frames = max(lengths)
    stimuli = torch.arange(frames, dtype=torch.float32)[None, :, None, None].expand(len(lengths), frames, 2, 3).clone()
    for trial, length in enumerate(lengths):
        stimuli[trial, length:] = 0
    zeros = torch.zeros(len(lengths), frames, 2)
    return SessionTensors("k", "video", len(lengths), stimuli, zeros, zeros, zeros.clone(), np.asarray(lengths))


def test_overlapping_windows_are_averaged_frame_by_frame():
    tensors = _tensors([6, 8])
    first, second = predict_tensors(WindowProbe(3), tensors, np.array([0, 1]))
    # frame f lies in the windows starting at max(0, f-2)..min(f, L-3): the mean of those starts
    assert np.allclose(first[:, 0], [0, 0.5, 1, 2, 2.5, 3]) and np.allclose(second[:, 1], [0, .5, 1, 2, 3, 4, 4.5, 5])
    stepped, = predict_tensors(WindowProbe(2, step=2), tensors, np.array([0]))
    # windows (0, 2), (2, 4) on the even frames and (1, 3), (3, 5) on the odd ones
    assert np.allclose(stepped[:, 0], [0, 1, 1, 2, 2, 3])
    strided = predict_tensors(WindowProbe(3, stride=2), tensors, np.array([1]))[0]
    assert np.allclose(strided[:, 0], [0, 0, 1, 2, 3, 4.5, 4.5, 5])   # windows at 0, 2, 4 and the last, 5


def test_each_window_sees_its_own_frames():
    tensors = _tensors([6, 8])
    for probe in (WindowProbe(3, report="frame"), WindowProbe(2, 2, report="frame"), WindowProbe(3, 3, 2, "frame")):
        for trial, predicted in zip([1, 0], predict_tensors(probe, tensors, np.array([1, 0]))):
            assert np.array_equal(predicted[:, 0], np.arange(tensors.lengths[trial]))


def test_a_window_that_covers_the_trial_predicts_as_a_whole_trial_does():
    sessions = [learnable_video_session("v", seed=4)]
    small = {"family": "dwiseneuro", "pad_to": None, "stage_channels": [4, 8], "stage_depths": [1, 1],
             "stage_strides": [2, 1], "expansion_ratio": 2, "se_ratio": 4, "cortex_channels": [8],
             "frame_step": 1, "predict_window": None}
    model = build_model(sessions, small, seed=0)
    trials = np.arange(sessions[0].n_trials)
    whole = predict(model, sessions[0], trials)
    model.predict_window = int(sessions[0].lengths.max())     # windowed path, one window per trial
    covered = predict(model, sessions[0], trials)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(whole, covered))
    model.predict_window = 8
    slid = predict(model, sessions[0], trials)
    assert [s.shape for s in slid] == [w.shape for w in whole] and not np.allclose(slid[0], whole[0], atol=1e-3)
