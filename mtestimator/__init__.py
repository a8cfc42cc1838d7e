"""scikit-learn estimators that train one Keras network for several targets."""

from ._multilabel import MultiLabelMLPClassifier

__all__ = ["MultiLabelMLPClassifier"]
__version__ = "0.1.0"
