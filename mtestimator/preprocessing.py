"""Preprocessing for sequence input (scikit-learn has no 3-D scaler)."""

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from ._compat import fit_context

__all__ = ["SequenceStandardScaler"]


class SequenceStandardScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise each channel of sequences over all samples and timesteps.

    For X of shape ``(n_samples, timesteps, channels)`` (2-D X is one
    channel), learns one mean and one standard deviation per channel on the
    data passed to ``fit`` (in a Pipeline: the training fold only) and maps
    every value to ``(x - mean) / std``. The output keeps the input's shape.

    Attributes
    ----------
    mean_ : ndarray of shape (n_channels,)
    scale_ : ndarray of shape (n_channels,)
        Standard deviations; 1 where a channel is constant.
    n_features_in_ : int
        Timesteps.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(24, dtype=float).reshape(2, 4, 3)
    >>> Xt = SequenceStandardScaler().fit_transform(X)
    >>> Xt.shape, np.allclose(Xt.reshape(-1, 3).mean(axis=0), 0)
    ((2, 4, 3), True)
    """

    _parameter_constraints = {}

    def _check(self, X):
        X = check_array(X, allow_nd=True, dtype=[np.float64, np.float32])
        if X.ndim not in (2, 3):
            raise ValueError(
                "SequenceStandardScaler expects X of shape (n_samples, timesteps, "
                f"channels) or (n_samples, timesteps); got {X.ndim} dimensions."
            )
        return X

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn each channel's mean and standard deviation."""
        X = self._check(X)
        values = X.reshape(-1, 1) if X.ndim == 2 else X.reshape(-1, X.shape[2])
        self.mean_ = values.mean(axis=0)
        std = values.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        """Standardise ``X`` with the learned statistics (a new array)."""
        check_is_fitted(self, "mean_")
        X = self._check(X)
        if X.ndim == 2:
            if len(self.mean_) != 1:
                raise ValueError(f"X is 2-D (one channel) but the scaler was fitted on "
                                 f"{len(self.mean_)} channels.")
            return (X - self.mean_[0]) / self.scale_[0]
        if X.shape[2] != len(self.mean_):
            raise ValueError(f"X has {X.shape[2]} channels, but the scaler was fitted on "
                             f"{len(self.mean_)}.")
        return (X - self.mean_) / self.scale_

    def inverse_transform(self, X):
        """Back to the original units."""
        check_is_fitted(self, "mean_")
        X = self._check(X)
        if X.ndim == 2:
            return X * self.scale_[0] + self.mean_[0]
        return X * self.scale_ + self.mean_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
