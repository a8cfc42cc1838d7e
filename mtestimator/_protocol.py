"""scikit-learn's view of an estimator with heads: its tags and its parameter names.

:class:`SklearnProtocol` is a mixin of :class:`~mtestimator._base.BaseMultiTask`:
tags follow the heads given in the parameters (one classification head: a
classifier; one regression head: a regressor), and ``set_params`` names the
valid parameters when a key is wrong.
"""

from sklearn.utils import ClassifierTags, RegressorTags

__all__ = ["SklearnProtocol"]


class SklearnProtocol:
    """Tags and ``set_params`` from the heads and trunk in the parameters."""

    def _head_kinds(self):
        """The kinds of the heads as given in the parameters (for tags)."""
        return [head.kind for _, head in self._make_heads()]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        try:
            kinds = self._head_kinds()
            sparse = type(self._make_trunk()).__name__ == "MLPTrunk"
        except Exception:  # invalid parameters: plain tags; fit says what is wrong
            kinds, sparse = [], False
        tags.input_tags.sparse = sparse
        if kinds == ["classifier"]:
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        elif kinds == ["multilabel"]:
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags(multi_label=True)
            tags.target_tags.multi_output = True
            tags.target_tags.single_output = False
        elif kinds == ["regressor"]:
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
            tags.target_tags.multi_output = True
        else:
            tags.target_tags.multi_output = True
            tags.target_tags.single_output = False
        return tags

    def set_params(self, **params):
        """Set the parameters of this estimator (scikit-learn semantics).

        Parameters
        ----------
        **params : dict
            Estimator parameters; ``<param>__<sub>`` reaches a parameter
            that is itself an estimator (a trunk, a head).

        Returns
        -------
        self : estimator instance
        """
        valid = self.get_params(deep=False)
        for key in params:
            name = key.split("__", 1)[0]
            if name not in valid or ("__" in key and not hasattr(valid[name], "set_params")):
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {sorted(valid)!r}."
                )
        return super().set_params(**params)
