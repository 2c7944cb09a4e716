"""The bench's reference pipeline (neuralpredictors 0.3.0, bench-only) loads and trains on a session folder."""
import numpy as np
import pytest

pytest.importorskip("neuralpredictors", reason="bench-only: pip install -r bench/requirements.txt")
pytest.importorskip("skimage", reason="bench-only: pip install -r bench/requirements.txt")

from bench.reference.loader import static_loaders  # noqa: E402
from bench.reference.model import sota_model  # noqa: E402
from bench.reference.trainer import standard_trainer  # noqa: E402
from sensorium_models.data.layout import session_name, trial_statistics, write_session  # noqa: E402


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
