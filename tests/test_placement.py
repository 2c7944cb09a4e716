"""data.placement: host-memory sessions train exactly as device-placed ones; auto chooses by device memory."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from sensorium_models.data import DataConfig
from sensorium_models.data.batches import SessionTensors, sequential_batches
from sensorium_models.data.placement import (
    DATA_SHARE,
    HostTensors,
    choose_placement,
    place_sessions,
    prefetched,
    session_bytes,
)
from sensorium_models.errors import UserError
from sensorium_models.data import as_data_config
from sensorium_models.training import train
from training_builders import (TinyModel, fast_trainer, learnable_static_session, learnable_video_session,
                               two_static_sessions, without_timing)

FAST = fast_trainer(max_epochs=3)


def _mapped(session, folder):
    """The session with its large arrays memory-mapped read-only from .npy files, as the cache opens them."""
    arrays = {}
    for name in ("stimuli", "responses", "behavior", "pupil_center"):
        np.save(folder / f"{session.key}-{name}.npy", np.asarray(getattr(session, name), dtype=np.float32))
        arrays[name] = np.load(folder / f"{session.key}-{name}.npy", mmap_mode="r")
    return replace(session, **arrays)


def _run(sessions, placement, cfg=FAST):
    model = TinyModel(sessions, dropout=0.2)
    result = train(model, sessions, cfg, seed=3, placement=placement)
    return without_timing(result.history), result.best_state


@pytest.mark.parametrize("kind", ["static", "video"])
def test_host_and_device_placement_train_bit_identically_on_cpu(tmp_path, kind):
    if kind == "static":
        sessions = two_static_sessions()
        cfg = FAST
    else:
        sessions = [learnable_video_session("v", seed=1), learnable_video_session("w", n_neurons=3, seed=2)]
        cfg = {**FAST, "batch_size": 4, "clip_frames": 12, "eval_skip": 5}
    sessions = [_mapped(s, tmp_path) for s in sessions]
    device_history, device_state = _run(sessions, "device", cfg)
    host_history, host_state = _run(sessions, "host", cfg)
    assert len(device_history) == cfg["max_epochs"]
    assert host_history == device_history
    assert device_state.keys() == host_state.keys()
    assert all(torch.equal(device_state[k], host_state[k]) for k in device_state)


def test_host_batches_equal_device_batches_and_keep_the_memory_map(tmp_path):
    session = _mapped(learnable_video_session("v", seed=4), tmp_path)
    host = place_sessions([session], "host", torch.device("cpu"))["v"]
    device = SessionTensors.from_session(session)
    assert isinstance(host, HostTensors) and host.prefetch and not device.prefetch
    assert host.responses.data_ptr() == session.responses.ctypes.data   # no copy of the session
    for index in sequential_batches(np.arange(session.n_trials), 5, session.lengths):
        a, b = host.batch(index), device.batch(index)
        for name in ("trials", "stimuli", "behavior", "pupil_center", "responses", "frames"):
            assert torch.equal(getattr(a, name), getattr(b, name))


def test_auto_picks_host_when_the_device_is_too_small():
    sessions = [learnable_static_session("a"), learnable_video_session("v")]
    need = session_bytes(sessions)
    assert need == sum(4 * getattr(s, n).size for s in sessions
                       for n in ("stimuli", "responses", "behavior", "pupil_center"))
    small, large = int(need / DATA_SHARE) - 1, int(need / DATA_SHARE) + 1
    placement, reason = choose_placement("auto", sessions, budget=small)
    assert placement == "host" and "exceed" in reason
    assert choose_placement("auto", sessions, budget=large)[0] == "device"
    assert choose_placement("auto", sessions, budget=None)[0] == "device"     # CPU: no device limit
    assert choose_placement("host", sessions, budget=None) == ("host", "data.placement: host")
    assert choose_placement("device", sessions, budget=small)[0] == "device"  # as configured, even if too big


def test_auto_prints_its_choice(capsys):
    sessions = [learnable_static_session("a")]
    train(TinyModel(sessions), sessions, {**FAST, "max_epochs": 1}, seed=0, placement="auto")
    assert "data.placement auto: device (" in capsys.readouterr().out


def test_placement_is_a_data_config_key_with_auto_by_default():
    assert DataConfig(paths=["x"]).placement == "auto"
    with pytest.raises(UserError, match="placement"):
        as_data_config({"paths": ["x"], "placement": "gpu"})


def test_prefetched_keeps_order_and_stops_cleanly():
    loaded = []

    def load(item):
        loaded.append(item)
        return item * 10

    assert list(prefetched(load, range(5), ahead=True)) == [0, 10, 20, 30, 40]
    assert list(prefetched(load, [], ahead=True)) == []
    loaded.clear()
    stream = prefetched(load, range(100), ahead=True)
    assert next(stream) == 0
    stream.close()                                     # the background thread ends with it
    assert len(loaded) <= 3
