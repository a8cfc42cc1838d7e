"""The private names of scikit-learn the estimators use, in one place.

Each has no public equivalent (the comment on its import says why). They are
imported on first use, by attribute (``from ._compat import StrOptions``).
``CHECKED_WITH``: the versions (major.minor) these and the engine's private
names (:mod:`mtestimator.engine._compat`) were checked with;
``tests/test_compat.py`` fails when an installed version differs, as a
reminder to check them again. ``sklearn.utils._safe_indexing`` is public
(in ``sklearn.utils.__all__`` and documented) despite its name.
"""

from .engine._compat import CHECKED_WITH as _ENGINE_CHECKED_WITH

__all__ = ["BaseScorer", "CHECKED_WITH", "HasMethods", "Interval", "InvalidParameterError",
           "StrOptions", "VisualBlock", "check_matplotlib_support", "check_sample_weight",
           "fit_context", "param_names", "validate_parameter_constraints", "validate_params",
           "validate_style_kwargs"]

CHECKED_WITH = {"scikit-learn": "1.9", "scikeras": "0.13", **_ENGINE_CHECKED_WITH}


def validate_params(estimator):
    """Check ``estimator``'s parameters against its ``_parameter_constraints``."""
    # scikit-learn's parameter validation of an estimator has no public entry point
    estimator._validate_params()


def param_names(cls):
    """The sorted names of the estimator class ``cls``'s ``__init__`` parameters."""
    # scikit-learn reads them (and rejects *args) only in a private classmethod
    return cls._get_param_names()


def __getattr__(name):
    if name in ("HasMethods", "Interval", "InvalidParameterError", "StrOptions",
                "validate_parameter_constraints"):
        # scikit-learn's parameter constraints (_parameter_constraints) have no public module
        from sklearn.utils import _param_validation
        return getattr(_param_validation, name)
    if name == "check_sample_weight":
        # the public validation module offers no sample-weight check with these messages
        from sklearn.utils.validation import _check_sample_weight
        return _check_sample_weight
    if name == "fit_context":
        # scikit-learn's fit decorator (parameter validation, nested-validation skip) is not exported
        from sklearn.base import _fit_context
        return _fit_context
    if name == "BaseScorer":
        # make_scorer scores the estimator's own predict; a per-head scorer with
        # set_score_request needs the scorers' base class
        from sklearn.metrics._scorer import _BaseScorer
        return _BaseScorer
    if name == "VisualBlock":
        # the HTML repr's hook (_sk_visual_block_) returns this class, which is not exported
        try:
            from sklearn.utils._repr_html.estimator import _VisualBlock
        except ImportError:  # scikit-learn < 1.7
            from sklearn.utils._estimator_html_repr import _VisualBlock
        return _VisualBlock
    if name == "validate_style_kwargs":
        # the Display classes' merge of default and user line styles is not exported
        from sklearn.utils._plotting import _validate_style_kwargs
        return _validate_style_kwargs
    if name == "check_matplotlib_support":
        # the Display classes' "requires matplotlib" error is not exported
        from sklearn.utils._optional_dependencies import check_matplotlib_support
        return check_matplotlib_support
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
