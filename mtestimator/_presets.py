"""What the two presets share: a trunk named by a string and its parameters.

The presets (:class:`~mtestimator.JointRegressorClassifier`,
:class:`~mtestimator.MultiLabelMLPClassifier`) are fixed arrangements of
heads on a trunk; their flat parameters (``trunk="lstm"``,
``hidden_layer_sizes``, ...) become a trunk object here.
"""

import numbers

from ._base import BaseMultiTask
from ._compat import Interval, StrOptions
from .trunks import ACTIVATIONS, Conv1DTrunk, MLPTrunk, RecurrentTrunk

__all__ = ["PRESET_TRUNKS", "BasePreset"]

#: The trunks a preset's ``trunk`` parameter names.
PRESET_TRUNKS = ("mlp", "lstm", "gru", "conv1d")


class BasePreset(BaseMultiTask):
    """A preset: flat trunk parameters, arrays out (never DataFrames)."""

    _parameter_constraints = {
        **BaseMultiTask._parameter_constraints,
        "trunk": [StrOptions(set(PRESET_TRUNKS))],
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "kernel_initializer": [str],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
    }
    _frame_output = False

    def _make_trunk(self):
        common = {"hidden_layer_sizes": self.hidden_layer_sizes,
                  "kernel_initializer": self.kernel_initializer, "dropout": self.dropout}
        if self.trunk == "mlp":
            return MLPTrunk(activation=self.activation, **common)
        if self.trunk in ("lstm", "gru"):
            return RecurrentTrunk(cell=self.trunk, **common)
        return Conv1DTrunk(activation=self.activation, **common)
