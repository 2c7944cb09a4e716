"""Each score on a small case worked out by hand (the arithmetic is in the comments)."""
import numpy as np
import pytest

from sensorium_models.metrics import (
    challenge_correlation,
    correlation,
    correlation_to_average,
    feve,
    scored_window,
    single_trial_correlation,
    video_correlation_to_average,
)


def test_correlation_hand_computed():
    # y1 = [1,2,3]: deviations [-1,0,1], population var 2/3.
    # y2 = [2,4,7]: mean 13/3, deviations [-7/3,-1/3,8/3], population var (49+1+64)/27 = 114/27.
    # corr = (1/3) * (7/3 + 0 + 8/3) / sqrt(2/3 * 114/27) = (5/3) / (sqrt(228)/9) = 15 / sqrt(228).
    assert correlation(np.array([1.0, 2, 3]), np.array([2.0, 4, 7])) == pytest.approx(15 / np.sqrt(228))


def test_correlation_is_per_column_and_matches_pearson():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    expected = [np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(4)]
    np.testing.assert_allclose(correlation(a, b, axis=0), expected, atol=1e-6)
    np.testing.assert_allclose(correlation(a.T, b.T, axis=1), expected, atol=1e-6)


def test_single_trial_correlation_constant_and_nan_neurons_score_zero():
    responses = np.array([[1.0, 5.0, 1.0], [2.0, 5.0, np.nan], [3.0, 5.0, 2.0]])
    predictions = np.array([[2.0, 1.0, 1.0], [4.0, 2.0, 2.0], [7.0, 3.0, 3.0]])
    result = single_trial_correlation(responses, predictions)
    # column 0 is the hand-computed case above; column 1 is constant (std 0, eps keeps it finite: 0);
    # column 2 holds a NaN, which becomes 0.
    np.testing.assert_allclose(result, [15 / np.sqrt(228), 0.0, 0.0])
    assert np.isfinite(result).all()


def test_correlation_to_average_hand_computed():
    image_ids = np.array([0, 0, 1, 1, 2, 2])
    responses = np.array([1.0, 3, 2, 4, 5, 7])[:, None]     # image means [2, 3, 6]
    predictions = np.array([0.0, 2, 1, 1, 2, 4])[:, None]   # image means [1, 1, 3]
    # deviations [-5/3,-2/3,7/3] and [-2/3,-2/3,4/3]: sum of products 42/9 = 14/3;
    # variances 78/27 and 24/27; corr = (1/3)(14/3) / sqrt(78*24/729) = 42 / sqrt(1872).
    result = correlation_to_average(responses, predictions, image_ids)
    assert result == pytest.approx([42 / np.sqrt(1872)])


def test_correlation_to_average_ignores_trial_order():
    rng = np.random.default_rng(1)
    ids = np.repeat(np.arange(5), 3)
    r, p = rng.normal(size=(15, 2)), rng.normal(size=(15, 2))
    perm = rng.permutation(15)
    np.testing.assert_allclose(correlation_to_average(r, p, ids), correlation_to_average(r[perm], p[perm], ids[perm]))


def _feve_case():
    # Two images shown twice. Neuron 0: r = [1,3 | 5,7]; per-image var (ddof=1) 2 and 2 -> noise_var 2;
    # total var (ddof=1) of [1,3,5,7] = 20/3; FEV = (20/3 - 2)/(20/3) = 0.7.
    # Neuron 1: r = [1,3 | 3,1]; noise_var 2, total var 4/3, FEV = -0.5: always dropped.
    image_ids = np.array([0, 0, 1, 1])
    responses = np.array([[1.0, 1.0], [3, 3], [5, 3], [7, 1]])
    return responses, image_ids


def test_feve_hand_computed():
    responses, image_ids = _feve_case()
    # Predicting [3,3,5,5]: mean squared error (4+0+0+4)/4 = 2 = noise_var -> FEVE = 1 - 0/(14/3) = 1.
    perfect = np.array([[3.0, 2], [3, 2], [5, 2], [5, 2]])
    np.testing.assert_allclose(feve(responses, perfect, image_ids), [1.0])
    # Predicting the constant 4: error (9+1+1+9)/4 = 5 -> FEVE = 1 - (5-2)/(14/3) = 5/14.
    flat = np.full((4, 2), 4.0)
    np.testing.assert_allclose(feve(responses, flat, image_ids), [5 / 14])


def test_feve_threshold_and_single_showings():
    responses, image_ids = _feve_case()
    flat = np.full((4, 2), 4.0)
    assert feve(responses, flat, image_ids, fev_threshold=0.8).size == 0   # FEV 0.7 < 0.8
    assert feve(responses, flat, image_ids, fev_threshold=0.69).size == 1
    # A trial of an image shown once carries no noise estimate and must not change anything.
    with_single = np.vstack([responses, [[100.0, -100.0]]])
    np.testing.assert_allclose(feve(with_single, np.full((5, 2), 4.0), np.append(image_ids, 9)), [5 / 14])
    assert feve(responses, flat, np.arange(4)).size == 0


def test_feve_drops_constant_neuron_without_warnings():
    responses = np.array([[1.0, 2], [3, 2], [5, 2], [7, 2]])
    with np.errstate(all="raise"):
        result = feve(responses, np.full((4, 2), 4.0), np.array([0, 0, 1, 1]))
    np.testing.assert_allclose(result, [5 / 14])


def test_challenge_correlation_skips_and_concatenates():
    # After dropping the first frame of each trial: r = [1,2 | 3], p = [1,2 | 7].
    # deviations [-1,0,1] and [-7/3,-4/3,11/3]: products sum 6; variances 2/3 and 186/27;
    # corr = (1/3)*6 / sqrt(2/3 * 186/27) = 18 / sqrt(372).
    responses = [np.array([[9.0], [1], [2]]), np.array([[9.0], [3]])]
    predictions = [np.array([[-5.0], [1], [2]]), np.array([[100.0], [7]])]
    result = challenge_correlation(responses, predictions, skip=1)
    assert result == pytest.approx([18 / np.sqrt(372)])
    # Without the skip the outlying first frames enter and change the score.
    assert challenge_correlation(responses, predictions, skip=0)[0] != pytest.approx(result[0])


def test_challenge_correlation_nan_safe_and_checks_shapes():
    responses = [np.full((4, 2), 1.0), np.array([[0.0, 1], [1, 2], [2, np.nan], [3, 3]])]
    predictions = [np.arange(8.0).reshape(4, 2), np.arange(8.0).reshape(4, 2)]
    result = challenge_correlation(responses, predictions, skip=0)
    assert result.shape == (2,) and np.isfinite(result).all() and result[1] == 0.0
    with pytest.raises(ValueError, match="shape"):
        challenge_correlation(responses, [p[:3] for p in predictions], skip=0)


def test_challenge_window_is_frames_51_to_min_t_300():
    assert scored_window(300) == slice(51, 300) and scored_window(320) == slice(51, 300)
    assert scored_window(200) == slice(51, 200) and scored_window(40) == slice(51, 51)
    rng = np.random.default_rng(2)
    r, p = rng.normal(size=(330, 3)), rng.normal(size=(330, 3))
    tampered = p.copy()
    tampered[:51] = tampered[300:] = 1e6  # frames the competition never reads
    np.testing.assert_allclose(challenge_correlation([r], [tampered]), single_trial_correlation(r[51:300], p[51:300]))


def test_video_correlation_to_average_averages_repeats_frame_by_frame():
    # Two videos of 2 frames (skip 0), each shown twice: repeat means r = [1,2 | 4,5], p = [0,2 | 3,3].
    responses = [np.array([[0.0], [2]]), np.array([[3.0], [5]]), np.array([[2.0], [2]]), np.array([[5.0], [5]])]
    predictions = [np.array([[0.0], [1]]), np.array([[3.0], [3]]), np.array([[0.0], [3]]), np.array([[3.0], [3]])]
    result = video_correlation_to_average(responses, predictions, np.array([7, 9, 7, 9]), skip=0)
    np.testing.assert_allclose(result, correlation(np.array([1.0, 2, 4, 5]), np.array([0.0, 2, 3, 3])))


def test_feve_keeps_a_neuron_whose_fev_equals_the_threshold():
    responses, image_ids = _feve_case()
    total, noise = np.var(responses[:, 0], ddof=1), 2.0
    assert feve(responses, np.full((4, 2), 4.0), image_ids, fev_threshold=(total - noise) / total).size == 1
