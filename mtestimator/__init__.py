"""scikit-learn estimators that train one Keras network for several targets."""

from ._threads import follow_thread_limit

follow_thread_limit()  # before TensorFlow is imported: see _threads.py

from ._joint import JointRegressorClassifier  # noqa: E402
from ._multilabel import MultiLabelMLPClassifier  # noqa: E402
from ._persistence import load  # noqa: E402

__all__ = ["JointRegressorClassifier", "MultiLabelMLPClassifier", "load"]
__version__ = "0.1.0"
