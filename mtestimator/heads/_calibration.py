"""Temperature scaling of a head's probabilities: one temperature fitted on held-out rows, applied at predict."""

import numpy as np
from scipy.optimize import minimize_scalar

__all__ = ["calibrated", "fit_temperature", "scale_softmax", "scale_sigmoid"]

#: Probabilities are clipped to [_EPS, 1 - _EPS] before their logits are taken
#: (a float32 sigmoid or softmax may give exactly 0 or 1).
_EPS = 1e-7
#: The temperature is searched in [1 / _LIMIT, _LIMIT] (on a log scale).
_LIMIT = 100.0
#: The prior's standard deviation of log(temperature): T within [0.37, 2.7]
#: at 2 standard deviations unless the rows say otherwise.
_PRIOR_SD = 0.5


def calibrated(heads):
    """What in ``heads`` (``(name, head)`` pairs) needs held-out rows: a text
    naming the first calibrated head, or None. Without early stopping those
    rows (``validation_fraction`` of them) are held out of training for it."""
    for name, head in heads:
        if getattr(head, "calibration", None) is not None:
            return f"Head {name!r} with calibration={head.calibration!r}"
    return None


def _logit(p):
    p = np.clip(np.asarray(p, np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def scale_softmax(proba, temperature):
    """Softmax probabilities (n, k) with their logits divided by ``temperature``
    (``log p`` are the logits up to a constant per row)."""
    z = np.log(np.clip(np.asarray(proba, np.float64), _EPS, None)) / temperature
    return np.exp(_log_softmax(z))


def scale_sigmoid(p, temperature):
    """Sigmoid probabilities with their logits divided by ``temperature``
    (elementwise; ``temperature`` broadcasts, e.g. one per label column)."""
    return 1.0 / (1.0 + np.exp(-_logit(p) / temperature))


def _softmax_nll(proba, idx):
    z = np.log(np.clip(np.asarray(proba, np.float64), _EPS, None))
    return lambda t: -np.mean(_log_softmax(z / np.exp(t))[np.arange(len(idx)), idx])


def _sigmoid_nll(p, y):
    z, y = _logit(p), np.asarray(y, np.float64)
    # -log sigmoid(s) = logaddexp(0, -s), -log(1 - sigmoid(s)) = logaddexp(0, s)
    return lambda t: np.mean(np.logaddexp(0, np.where(y > 0.5, -1, 1) * z / np.exp(t)))


def fit_temperature(proba, y, *, softmax):
    """The temperature that minimises the log loss of ``proba`` on labels ``y``,
    with a normal prior of standard deviation ``_PRIOR_SD`` on ``log(temperature)``.

    The prior (``log(T)**2 / (2 * _PRIOR_SD**2)`` added to the summed log loss) keeps ``T``
    near 1 when the rows give little evidence: on a validation split that the
    network separates perfectly, the log loss alone falls as ``T`` goes to 0,
    and such a temperature would make every test mistake cost a fortune.

    Parameters
    ----------
    proba : ndarray
        Softmax probabilities (n, k) with ``softmax=True`` (``y``: class
        indices), else sigmoid probabilities (n,) (``y``: 0/1).
    y : ndarray of shape (n,)
    softmax : bool

    Returns
    -------
    temperature : float
        1.0 when there are no rows.
    """
    n = len(y)
    if n == 0:
        return 1.0
    nll = _softmax_nll(proba, y) if softmax else _sigmoid_nll(proba, y)
    limit = np.log(_LIMIT)
    penalty = 1.0 / (2 * _PRIOR_SD ** 2 * n)
    found = minimize_scalar(lambda t: nll(t) + penalty * t * t, bounds=(-limit, limit),
                            method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))
