"""The bench's reference pipeline (neuralpredictors 0.3.0, bench-only) loads and trains on a session folder."""
import numpy as np
import pytest

# Not skipped when missing: `make install` installs the reference (bench/requirements.txt), so CI runs these.
from bench.reference.loader import static_loaders
from bench.reference.model import sota_model
from bench.reference.trainer import standard_trainer
from sensorium_models.data.layout import session_name, trial_statistics, write_session


def tiny_session(folder, n_trials=48, n_neurons=12, seed=0):
    """A static session in the organisers' layout whose responses follow image brightness."""
    rng = np.random.default_rng(seed)
    images = [rng.uniform(0, 255, (1, 144, 256)).astype(np.float32) for _ in range(n_trials)]
    brightness = np.array([im.mean() for im in images])
    gains = rng.uniform(0.5, 2.0, n_neurons)
    responses = [np.maximum(g * (b - 120) + rng.normal(0, 0.5, n_neurons), 0).astype(np.float32) + 0.1
                 for g, b in zip([gains] * n_trials, brightness)]
    behavior = [rng.normal(1, 0.3, 3).astype(np.float32) for _ in range(n_trials)]
    pupil = [rng.normal(0, 1, 2).astype(np.float32) for _ in range(n_trials)]
    tiers = np.array(["train"] * (n_trials - 16) + ["validation"] * 8 + ["test"] * 8)
    stats = {k: trial_statistics(v) for k, v in
             (("responses", responses), ("behavior", behavior), ("pupil_center", pupil))}
    pixels = np.stack(images)
    stats["images"] = {s: np.array(f(pixels)) for s, f in
                       (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max), ("median", np.median))}
    path = folder / session_name("static", "1-2-3", "0" * 32)
    write_session(
        path,
        {"images": images, "responses": responses, "behavior": behavior, "pupil_center": pupil},
        {"tiers": tiers, "trial_idx": np.arange(n_trials), "frame_image_id": np.arange(n_trials)},
        {"unit_ids": np.arange(1, n_neurons + 1), "cell_motor_coordinates": rng.normal(0, 100, (n_neurons, 3))},
        stats,
    )
    return path, np.stack(responses), stats


def test_loader_applies_the_starter_kit_transforms(tmp_path):
    path, responses, stats = tiny_session(tmp_path)
    loaders = static_loaders([str(path)], batch_size=8, seed=0)
    assert list(loaders) == ["train", "validation", "test"]
    assert list(loaders["train"]) == ["1-2-3"]
    batch = next(iter(loaders["validation"]["1-2-3"]))
    assert batch._fields == ("images", "responses", "behavior", "pupil_center")
    assert tuple(batch.images.shape) == (8, 4, 36, 64)      # behaviour as channels, scaled by 0.25
    expected = responses[32:40] / stats["responses"]["std"]  # validation trials 32..39, in order
    np.testing.assert_allclose(batch.responses.numpy(), expected, rtol=1e-5)


def test_reference_trains_and_traces_each_epoch(tmp_path):
    path, _, _ = tiny_session(tmp_path)
    loaders = static_loaders([str(path)], batch_size=8, seed=0)
    model = sota_model(loaders, seed=0)
    result = standard_trainer(model, loaders, seed=0, max_iter=2)
    assert len(result.epoch_seconds()) == 2 and all(s > 0 for s in result.epoch_seconds())
    correlations = result.epoch_correlations()
    assert len(correlations) == 2 and all(-1 <= c <= 1 for c in correlations)
    before_training = result.trace[0][1]
    assert result.score == pytest.approx(max([before_training, *correlations]), abs=1e-6)  # best restored


def test_ours_computes_what_the_reference_computes_from_the_same_weights(tmp_path):
    """Same seed → same core init; with the reference's weights copied over (readout jitter off), the two
    pipelines agree on outputs, loss, every gradient and the validation correlation: the benchmark compares
    implementations of one computation, and their curves differ only by their random draws."""
    import torch

    from bench.reference.trainer import get_correlations
    from neuralpredictors.measures import modules
    from sensorium_models.data import load_sessions
    from sensorium_models.data.batches import BatchIndex
    from sensorium_models.models import build_model
    from sensorium_models.training import _batch_loss, _setup, _validation_score, trainer_config

    path, _, _ = tiny_session(tmp_path)
    loaders = static_loaders([str(path)], batch_size=8, seed=0)
    reference = sota_model(loaders, seed=0, shifter=True)
    sessions = load_sessions({"paths": [str(path)], "cache_dir": str(tmp_path / "cache")})
    ours = build_model(sessions, {"behavior_channels": True, "shifter": True, "shifter_hidden_channels": 5,
                                  "shifter_layers": 3}, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(reference.core.parameters(), ours.core.parameters(), strict=True))
    with torch.no_grad():
        for theirs, mine in zip(reference.parameters(), ours.parameters(), strict=True):
            mine.copy_(theirs.reshape(mine.shape))
        reference.readout["1-2-3"].sigma.zero_()
        ours.readouts["1-2-3"].sigma.zero_()
    setup = _setup(ours, sessions, trainer_config({"device": "cpu"}), seed=0, placement="host", device_share=1.0)
    dataset = loaders["train"]["1-2-3"].dataset
    trials = np.arange(8)
    items = [dataset[i] for i in trials]
    images, responses, behavior, pupil = (torch.stack([torch.as_tensor(getattr(item, field)) for item in items])
                                          for field in ("images", "responses", "behavior", "pupil_center"))
    output = reference(images, data_key="1-2-3", pupil_center=pupil, behavior=behavior)
    loss = (np.sqrt(len(dataset) / len(trials)) * modules.PoissonLoss(avg=False)(output, responses)
            + reference.core.regularizer() + reference.readout.regularizer("1-2-3"))
    batch = setup.tensors["1-2-3"].batch(BatchIndex(torch.as_tensor(trials)))
    torch.testing.assert_close(ours(batch), output, rtol=1e-4, atol=1e-5)
    our_loss = _batch_loss(ours, setup, "1-2-3", batch)
    assert our_loss.item() == pytest.approx(loss.item(), rel=1e-5)
    loss.backward()
    our_loss.backward()
    for (name, theirs), mine in zip(reference.named_parameters(), ours.parameters()):
        if not name.endswith("sigma"):  # its gradient goes through the jitter's random draws
            difference = (mine.grad - theirs.grad.reshape(mine.shape)).norm() / theirs.grad.norm()
            assert difference < 1e-3, name  # summation order differs (NHWC vs NCHW convolutions)
    norms = [[m for m in model.core.modules() if isinstance(m, torch.nn.BatchNorm2d)] for model in (reference, ours)]
    for theirs, mine in zip(*norms, strict=True):  # the running statistics the training step left
        mine.load_state_dict(theirs.state_dict())
    assert _validation_score(ours, setup) == pytest.approx(
        get_correlations(reference, loaders["validation"], "cpu"), abs=1e-5)
