"""The base of the estimators: scikit-learn protocol, seeding, pickling.

mtestimator's estimators no longer inherit from scikeras (whose 0.13
release predates scikit-learn 1.6); what scikeras got wrong there stays
pinned here so it cannot come back.
"""

import os
import pickle
import random

import keras
import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.datasets import make_multilabel_classification
from sklearn.model_selection import KFold, check_cv

from mtestimator import MultiLabelMLPClassifier

X, Y = make_multilabel_classification(n_samples=120, n_features=6, n_classes=3,
                                      random_state=0)
FAST = {"hidden_layer_sizes": (8,), "epochs": 3, "random_state": 0}


def test_tags_and_estimator_type():
    est = MultiLabelMLPClassifier()
    tags = est.__sklearn_tags__()
    assert is_classifier(est)
    assert tags.estimator_type == "classifier"
    assert tags.classifier_tags.multi_label
    assert tags.target_tags.multi_output and not tags.target_tags.single_output
    assert tags.input_tags.sparse


def test_no_scikeras_class_in_the_estimators():
    from mtestimator import JointRegressorClassifier, MultiTaskEstimator

    for cls in (MultiLabelMLPClassifier, JointRegressorClassifier, MultiTaskEstimator):
        assert not any(k.__module__.startswith("scikeras") for k in cls.__mro__)


def test_cv_splitter_follows_target_type():
    # multi-label targets cannot be stratified by StratifiedKFold: KFold, as
    # for any scikit-learn multi-label classifier
    est = MultiLabelMLPClassifier()
    assert isinstance(check_cv(5, Y, classifier=is_classifier(est)), KFold)


def test_get_params_is_the_signature_and_clone_of_subclass():
    class Wider(MultiLabelMLPClassifier):
        def __init__(self, width=4, *, epochs=2, random_state=None):
            super().__init__(hidden_layer_sizes=(width,), epochs=epochs,
                             random_state=random_state)
            self.width = width

    est = Wider(width=7, epochs=3)
    assert set(est.get_params()) == {"width", "epochs", "random_state"}
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert "model" not in MultiLabelMLPClassifier().get_params()
    with pytest.raises(ValueError, match="Invalid parameter 'optimizer__beta_1'"):
        MultiLabelMLPClassifier().set_params(optimizer__beta_1=0.5)


def test_repr_is_scikit_learn_style():
    assert repr(MultiLabelMLPClassifier(epochs=5)) == "MultiLabelMLPClassifier(epochs=5)"


@pytest.mark.backend
def test_float64_predict_after_float32_fit():
    est = MultiLabelMLPClassifier(**FAST).fit(X.astype(np.float32), Y)
    np.testing.assert_allclose(est.predict_proba(X.astype(np.float64)),
                               est.predict_proba(X.astype(np.float32)))


@pytest.mark.backend
def test_seeded_fit_is_reproducible_and_leaves_no_global_trace():
    py_state, np_state = random.getstate(), np.random.get_state()
    det_env = os.environ.get("TF_DETERMINISTIC_OPS")
    a = MultiLabelMLPClassifier(**FAST).fit(X, Y).predict_proba(X)
    b = MultiLabelMLPClassifier(**FAST).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]
    assert os.environ.get("TF_DETERMINISTIC_OPS") == det_env
    from tensorflow.python.framework import config as tf_config

    assert not tf_config.is_op_determinism_enabled()
    # an unseeded plain Keras fit afterwards works and is not pinned to a seed
    outs = []
    for _ in range(2):
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
        model.compile("adam", "mse")
        model.fit(X, Y, epochs=1, verbose=0)
        outs.append(model.predict_on_batch(X[:2]))
    assert not np.allclose(outs[0], outs[1])


@pytest.mark.backend
def test_unseeded_fits_differ():
    params = {**FAST, "random_state": None}
    a = MultiLabelMLPClassifier(**params).fit(X, Y).predict_proba(X)
    b = MultiLabelMLPClassifier(**params).fit(X, Y).predict_proba(X)
    assert not np.allclose(a, b)


@pytest.mark.backend
def test_random_state_instance_is_used_and_not_advanced():
    # scikeras turned every RandomState into seed 0
    rs1, rs2 = np.random.RandomState(1), np.random.RandomState(2)
    state = rs1.get_state()[1].copy()
    p1 = MultiLabelMLPClassifier(**{**FAST, "random_state": rs1}).fit(X, Y).predict_proba(X)
    p2 = MultiLabelMLPClassifier(**{**FAST, "random_state": rs2}).fit(X, Y).predict_proba(X)
    assert not np.allclose(p1, p2)
    np.testing.assert_array_equal(rs1.get_state()[1], state)


@pytest.mark.backend
def test_pickle_round_trip_of_fitted_estimator():
    est = MultiLabelMLPClassifier(**FAST).fit(X, Y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
