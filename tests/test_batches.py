"""Batches cut by index from a session's tensors, video clips, and LongCycler-style session cycling."""
import numpy as np
import pytest
import torch
from dataclasses import replace

from sensorium_models.data.batches import (
    SessionTensors,
    cycle_sessions,
    epoch_generator,
    sequential_batches,
    shuffled_batches,
)
from training_builders import learnable_static_session, learnable_video_session


def test_static_batch_gathers_the_indexed_rows():
    session = learnable_static_session("a")
    tensors = SessionTensors.from_session(session)
    index = sequential_batches(np.array([5, 2, 9]), batch_size=8)[0]
    batch = tensors.batch(index)
    assert batch.key == "a" and batch.frames is None and batch.trials.tolist() == [5, 2, 9]
    np.testing.assert_array_equal(batch.stimuli.numpy(), session.stimuli[[5, 2, 9]])
    np.testing.assert_array_equal(batch.responses.numpy(), session.responses[[5, 2, 9]])
    np.testing.assert_array_equal(batch.behavior.numpy(), session.behavior[[5, 2, 9]])
    np.testing.assert_array_equal(batch.pupil_center.numpy(), session.pupil_center[[5, 2, 9]])


def test_memmap_arrays_are_shared_not_copied_on_cpu(tmp_path):
    session = learnable_static_session("a")
    path = tmp_path / "responses.npy"
    np.save(path, session.responses)
    mapped = np.load(path, mmap_mode="r")
    tensors = SessionTensors.from_session(replace(session, responses=mapped))
    assert tensors.responses.data_ptr() == mapped.ctypes.data
    np.testing.assert_array_equal(tensors.responses.numpy(), session.responses)


def test_shuffled_batches_cover_train_trials_once_in_near_equal_batches():
    trials = np.arange(10, 139)                      # 129 trials
    batches = shuffled_batches(trials, 64, epoch_generator(0, 1))
    sizes = [len(b.trials) for b in batches]
    assert sizes == [43, 43, 43]                      # never a trailing batch of one
    assert sorted(torch.cat([b.trials for b in batches]).tolist()) == trials.tolist()


def test_shuffles_are_seeded_per_epoch_and_session():
    trials = np.arange(50)

    def order(seed, epoch, session=0):
        return torch.cat([b.trials for b in shuffled_batches(trials, 16, epoch_generator(seed, epoch, session))])

    assert torch.equal(order(3, 1), order(3, 1))
    assert not torch.equal(order(3, 1), order(3, 2))
    assert not torch.equal(order(3, 1), order(4, 1))
    assert not torch.equal(order(3, 1), order(3, 1, session=1))


def test_video_clips_stay_within_valid_frames_and_match_the_session():
    session = learnable_video_session("v", frames=30)
    tensors = SessionTensors.from_session(session)
    train = session.indices("train")
    clip = int(session.lengths[train].min())          # the tightest clip: starts must hug the ends
    starts_seen = set()
    for epoch in range(20):
        for index in shuffled_batches(train, 5, epoch_generator(0, epoch), session.lengths, clip):
            assert (index.frames + clip <= torch.as_tensor(session.lengths)[index.trials]).all()
            assert (index.frames >= 0).all()
            starts_seen.update(index.frames.tolist())
    assert len(starts_seen) > 1
    index = shuffled_batches(train, 4, epoch_generator(0, 0), session.lengths, 10)[0]
    batch = tensors.batch(index)
    assert batch.stimuli.shape[:2] == (4, 10) and batch.responses.shape == (4, 10, session.n_neurons)
    for row, (trial, start) in enumerate(zip(index.trials.tolist(), index.frames.tolist())):
        np.testing.assert_array_equal(batch.responses[row].numpy(), session.responses[trial, start:start + 10])
        np.testing.assert_array_equal(batch.stimuli[row].numpy(), session.stimuli[trial, start:start + 10])
        np.testing.assert_array_equal(batch.behavior[row].numpy(), session.behavior[trial, start:start + 10])
    assert torch.equal(batch.frames, index.frames)


def test_stepped_clips_take_every_step_th_frame_and_repeats_draw_each_trial_again():
    session = learnable_video_session("v", frames=30)
    tensors = SessionTensors.from_session(session)
    train = session.indices("train")
    span = int(session.lengths[train].min())           # 22: clips of 8 frames every 3rd span 22
    for epoch in range(10):
        indices = shuffled_batches(train, 5, epoch_generator(0, epoch), session.lengths, 8, step=3, repeats=2)
        drawn = torch.cat([index.trials for index in indices])
        assert sorted(drawn.tolist()) == sorted(train.tolist() * 2)
        for index in indices:
            assert index.step == 3 and (index.frames + span <= torch.as_tensor(session.lengths)[index.trials]).all()
    batch = tensors.batch(indices[0])
    assert batch.stimuli.shape[:2] == (len(indices[0].trials), 8)
    for row, (trial, start) in enumerate(zip(indices[0].trials.tolist(), indices[0].frames.tolist())):
        np.testing.assert_array_equal(batch.responses[row].numpy(), session.responses[trial, start:start + span:3])
        np.testing.assert_array_equal(batch.pupil_center[row].numpy(),
                                      session.pupil_center[trial, start:start + span:3])
    with pytest.raises(ValueError, match=r"clip of 8 frames \(step 4\) is longer than a trial"):
        shuffled_batches(train, 5, epoch_generator(0, 0), session.lengths, 8, step=4)


def test_video_clip_longer_than_a_trial_is_refused():
    session = learnable_video_session("v")
    with pytest.raises(ValueError, match="longer than a trial"):
        shuffled_batches(session.indices("train"), 4, epoch_generator(0, 0), session.lengths, 31)


def test_sequential_video_batches_hold_whole_trials_of_one_length():
    session = learnable_video_session("v")
    trials = np.arange(session.n_trials)
    batches = sequential_batches(trials, 3, session.lengths)
    assert sorted(torch.cat([b.trials for b in batches]).tolist()) == trials.tolist()
    for index in batches:
        assert len(index.trials) <= 3 and (index.frames == 0).all()
        assert (torch.as_tensor(session.lengths)[index.trials] == index.n_frames).all()


def test_cycle_sessions_interleaves_until_the_longest_is_exhausted():
    cycles = list(cycle_sessions({"a": [1, 2, 3], "b": [10], "c": []}))
    assert cycles == [[("a", 1), ("b", 10)], [("a", 2), ("b", 10)], [("a", 3), ("b", 10)]]
    assert list(cycle_sessions({})) == []
