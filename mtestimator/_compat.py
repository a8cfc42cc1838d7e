"""The private names of scikit-learn the estimators use, in one place.

Each has no public equivalent (the comment on its entry says why). They are
imported on first use, by attribute (``from ._compat import StrOptions``).
``CHECKED_WITH``: the versions (major.minor) these and the engine's private
names (:mod:`mtestimator.engine._compat`) were checked with;
``tests/test_compat.py`` fails when an installed version differs, as a
reminder to check them again. ``sklearn.utils._safe_indexing`` is public
(in ``sklearn.utils.__all__`` and documented) despite its name.
"""

from .engine._compat import CHECKED_WITH as _ENGINE_CHECKED_WITH
from .engine._compat import load_private

__all__ = ["BaseScorer", "CHECKED_WITH", "HasMethods", "Interval", "InvalidParameterError",
           "StrOptions", "VisualBlock", "check_matplotlib_support", "check_sample_weight",
           "fit_context", "num_samples", "param_names", "validate_parameter_constraints",
           "validate_params", "validate_style_kwargs"]

CHECKED_WITH = {"scikit-learn": "1.9", **_ENGINE_CHECKED_WITH}  # scikeras: public API only


def validate_params(estimator):
    """Check ``estimator``'s parameters against its ``_parameter_constraints``."""
    # scikit-learn's parameter validation of an estimator has no public entry point
    estimator._validate_params()


def param_names(cls):
    """The sorted names of the estimator class ``cls``'s ``__init__`` parameters."""
    # scikit-learn reads them (and rejects *args) only in a private classmethod
    return cls._get_param_names()


_PARAMS = "sklearn.utils._param_validation"
# name: (attribute, module, fallback modules...), each with why no public name will do
_PRIVATE = {
    # scikit-learn's parameter constraints (_parameter_constraints) have no public module
    **{n: (n, _PARAMS) for n in ("HasMethods", "Interval", "InvalidParameterError", "StrOptions",
                                 "validate_parameter_constraints")},
    # the public validation module offers no sample-weight check with these messages
    "check_sample_weight": ("_check_sample_weight", "sklearn.utils.validation"),
    # scikit-learn's fit decorator (parameter validation, nested-validation skip) is not exported
    "fit_context": ("_fit_context", "sklearn.base"),
    # the number of rows of any array-like (lists, DataFrames, sparse) has no public function
    "num_samples": ("_num_samples", "sklearn.utils.validation"),
    # make_scorer scores the estimator's own predict; a per-head scorer with set_score_request
    # needs the scorers' base class (its _score hook, _sign/_score_func/_kwargs/_response_method)
    "BaseScorer": ("_BaseScorer", "sklearn.metrics._scorer"),
    # the HTML repr's hook (_sk_visual_block_) returns this class, which is not exported
    # (its module before scikit-learn 1.7: the second)
    "VisualBlock": ("_VisualBlock", "sklearn.utils._repr_html.estimator",
                    "sklearn.utils._estimator_html_repr"),
    # the Display classes' merge of default and user line styles is not exported
    "validate_style_kwargs": ("_validate_style_kwargs", "sklearn.utils._plotting"),
    # the Display classes' "requires matplotlib" error is not exported
    "check_matplotlib_support": ("check_matplotlib_support",
                                 "sklearn.utils._optional_dependencies"),
}


def __getattr__(name):
    value = globals()[name] = load_private(_PRIVATE, name, __name__)
    return value
