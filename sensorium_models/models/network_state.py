"""Model 4's network state: a few non-negative factors of where the population activity is heading.

Fitted once per session on the consecutive training pairs (t, t+1) of presentation order, both trials in
the train role: ``sqrt(x + 1e-6)`` → PCA (500 components, at most the pairs or neurons there are) → a
reduced-rank VAR of rank 20 predicting t+1 from t (alternating pseudo-inverse least squares, 100
iterations) → back to neuron space through the PCA, clipped at 0 → NMF with 10 components. A trial's state
is that chain applied to its lag-1 history (the response of the last train or validation trial presented
before it; without the sqrt, as the original applies it), then the NMF codes of the result: (n, 10).

As ``AdrianRoggenbach/adrian_sensorium`` ``01_create_additional_variables.ipynb``, except: its pair filter
tests tier[t] twice, so a pair's t+1 may be a test trial, and it takes validation pairs too; here both
trials of a pair are train, so no test or validation response enters the fit (a train trial's response is
among those fitted on, as in the original), and no trial's own response enters the input its state is
computed from. Responses are clipped at 0 before the sqrt (a negative one would give NaN). The codes are
the exact non-negative least squares that ``NMF.transform`` approximates (``nonnegative_codes``).

The fit takes minutes at full size (the NMF's 1000 iterations: 118 s for 2000 trials x 4000 neurons on
one core), so its result is kept in the session's cache entry, in a ``.npz`` named by a digest of
everything it reads (the usable trials' responses, roles, presentation order, the sizes, the scikit-learn
version): a later build, in any process, reads it instead, and parallel builds fit it once, under a lock.
"""
from __future__ import annotations

import hashlib
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..data.cache import locked
from ..data.session import Session
from ..errors import UserError
from .trials import available, presentation_ranks, recent_means, trial_means

STATE_FORMAT = 1
VAR_ITERATIONS = 100
VAR_SEED = 4534          # the original notebook's set_seed before the fit
NMF_SEED = 674           # the original's NMF random_state
NMF_MAX_ITER = 1000


@dataclass(frozen=True)
class NetworkState:
    """The sizes of the chain: PCA components, VAR rank, NMF components (Model 4: 500, 20, 10)."""

    pca_components: int = 500
    var_rank: int = 20
    components: int = 10

    def features(self, session: Session) -> np.ndarray:
        """(n, components) float32 state of each trial, read from the session's cache entry when fitted."""
        ranks = presentation_ranks(session, "network state")
        means = trial_means(session, session.responses)
        usable, train = available(session), session.roles == "train"
        path = self._cached_path(session, ranks, means, usable, train)
        if path is None:
            return self.fit(session, ranks, means, train)
        state = _read(path, (session.n_trials, self.components))
        if state is not None:
            return state
        try:
            lock = path.with_name(f".{path.name}.lock")
            lock.touch()
        except OSError:  # a cache folder we may not write to: fit here, as without a cache
            return self.fit(session, ranks, means, train)
        with locked(lock):  # parallel trials fit once; the others wait, then read it
            state = _read(path, (session.n_trials, self.components))
            if state is None:
                state = self.fit(session, ranks, means, train)
                _write(path, state)
        return state

    def fit(self, session: Session, ranks: np.ndarray, means: np.ndarray, train: np.ndarray) -> np.ndarray:
        """The state of every trial, fitted on ``means`` (n, N) of the train pairs."""
        from sklearn.decomposition import NMF, PCA
        from sklearn.exceptions import ConvergenceWarning

        order = np.argsort(ranks)
        pairs = train[order[:-1]] & train[order[1:]]
        before, after = order[:-1][pairs], order[1:][pairs]
        if len(before) < 2:
            raise UserError(f"session {session.key!r}: the model's network state (state_inputs: network) is fitted "
                            f"on consecutive train trials in presentation order; expected at least 2 such pairs, "
                            f"found {len(before)}")
        now, next_ = (np.sqrt(np.maximum(means[rows], 0) + 1e-6) for rows in (before, after))
        pca = PCA(n_components=min(self.pca_components, len(before), session.n_neurons), random_state=0).fit(now)
        w, v = reduced_rank_var(pca.transform(now), pca.transform(next_), min(self.var_rank, pca.n_components_))

        def predicted(x: np.ndarray) -> np.ndarray:
            return np.maximum(pca.inverse_transform(pca.transform(x) @ v.T @ w.T), 0)

        nmf = NMF(n_components=self.components, init="random", random_state=NMF_SEED, max_iter=NMF_MAX_ITER)
        with warnings.catch_warnings():  # the original's max_iter, often reached at full size: nothing to act on
            warnings.simplefilter("ignore", ConvergenceWarning)
            nmf.fit(predicted(now))
        lag_one = recent_means(session, [1], dtype=np.float64)[:, :, 0]
        return nonnegative_codes(predicted(lag_one), nmf.components_).astype(np.float32)

    def _cached_path(self, session: Session, ranks: np.ndarray, means: np.ndarray, usable: np.ndarray,
                     train: np.ndarray) -> Path | None:
        if session.cache_entry is None:
            return None
        import sklearn

        digest = hashlib.sha256()
        header = (STATE_FORMAT, self.pca_components, self.var_rank, self.components, VAR_ITERATIONS, VAR_SEED,
                  NMF_SEED, NMF_MAX_ITER, sklearn.__version__, means.shape)
        digest.update(repr(header).encode())
        for array in (ranks.astype(np.int64), usable, train, np.ascontiguousarray(means[usable])):
            digest.update(array.tobytes())
        return Path(session.cache_entry) / f"network_state-{digest.hexdigest()[:20]}.npz"


def reduced_rank_var(now: np.ndarray, next_: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """``W`` (P, rank) and ``V`` (rank, P) with ``next ≈ W V now`` per row: the original's ``rrvar``."""
    x1, x2 = now.T, next_.T
    full_map = x2 @ np.linalg.pinv(x1)  # constant across iterations
    v = np.random.default_rng(VAR_SEED).standard_normal((rank, x1.shape[0]))
    for _ in range(VAR_ITERATIONS):
        w = x2 @ np.linalg.pinv(v @ x1)
        v = np.linalg.pinv(w) @ full_map
    return w, v


def nonnegative_codes(x: np.ndarray, components: np.ndarray) -> np.ndarray:
    """(n, K) per row ``argmin_{w >= 0} ||x - w H||``: the problem ``NMF.transform`` solves, solved exactly.

    NMF's coordinate descent stops on a criterion summed over all rows, so one trial's input could shift
    every other trial's state by up to its tolerance; an exact non-negative least squares per row keeps
    each trial's state a function of its own input. Through the Cholesky factor ``L`` of ``H Hᵀ`` each row
    is a K x K problem: ``||Lᵀ w - L⁻¹ H x||``.
    """
    from scipy.optimize import nnls

    gram = components @ components.T
    try:
        factor = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:  # a component that is zero or a copy of another: the full problem per row
        return np.stack([nnls(components.T, row)[0] for row in x])
    targets = np.linalg.solve(factor, components @ x.T).T
    return np.stack([nnls(factor.T, target)[0] for target in targets])


def _read(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """The cached state, or None when the file is damaged or of another shape (it is then refitted)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            state = stored["state"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return state if state.shape == shape and state.dtype == np.float32 else None


def _write(path: Path, state: np.ndarray) -> None:
    """Write atomically; a cache folder we may not write to only costs the next build a refit."""
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, state=state)
    except OSError as err:
        print(f"sensorium-search: warning: could not cache the network state at {path} ({err.strerror}); "
              f"the next build fits it again", file=sys.stderr)
