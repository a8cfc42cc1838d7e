"""scikit-learn estimators that train one Keras network for several targets.

Importing the package imports neither TensorFlow nor scikeras (nor Keras):
they load when a network is first built, trained or loaded, and scikeras only
inside :class:`SeparateNetworks`.
"""

import random

_state = random.getstate()  # scikit-learn's metrics import draws from ``random``

from .engine.threads import follow_thread_limit  # noqa: E402

follow_thread_limit()  # before TensorFlow is imported: see engine/threads.py

from .engine.cache import cache_info, clear_cache  # noqa: E402
from ._estimator import MultiTaskEstimator  # noqa: E402
from ._joint import JointRegressorClassifier  # noqa: E402
from ._multilabel import MultiLabelMLPClassifier  # noqa: E402
from .persistence.objects import load, save  # noqa: E402
from ._separate import SeparateNetworks  # noqa: E402
from ._pipeline import predict_heads, predict_proba_heads  # noqa: E402
from ._inspect import summary  # noqa: E402
from ._diagram import plot_network  # noqa: E402

random.setstate(_state)  # importing mtestimator leaves the global generators as they were
del _state, random

__all__ = ["JointRegressorClassifier", "MultiLabelMLPClassifier", "MultiTaskEstimator",
           "SeparateNetworks", "cache_info", "clear_cache", "load", "plot_network",
           "predict_heads", "predict_proba_heads", "save", "summary"]
__version__ = "0.2.0"
