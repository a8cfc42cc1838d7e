"""scikit-learn estimators that train one Keras network for several targets."""

from ._joint import JointRegressorClassifier
from ._multilabel import MultiLabelMLPClassifier

__all__ = ["JointRegressorClassifier", "MultiLabelMLPClassifier"]
__version__ = "0.1.0"
