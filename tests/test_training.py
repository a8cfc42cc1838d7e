"""The training paths: fast (cached compiled trainer) vs general (Keras fit)."""

import os

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_multilabel_classification

from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier
from mtestimator.engine import cache as _cache, training as _training

# the engine's training paths, per backend; the general path's callbacks are deliberate
pytestmark = [pytest.mark.backend, pytest.mark.filterwarnings("ignore:Callback .* per-batch:UserWarning")]

X, Y = make_multilabel_classification(n_samples=150, n_features=6, n_classes=3,
                                      random_state=0)
rng = np.random.RandomState(0)
YJ = np.column_stack([X[:, 0] * 2.0, np.where(X[:, 1] > np.median(X[:, 1]), 1, 0)])


class NoOp(keras.callbacks.Callback):
    """A per-batch hook sends the fit down the general (Keras fit) path."""

    def on_train_batch_end(self, batch, logs=None):
        pass


@pytest.mark.parametrize(
    "make, y",
    [
        (lambda **kw: MultiLabelMLPClassifier((8,), epochs=10, random_state=0, **kw), Y),
        (lambda **kw: JointRegressorClassifier((8, 4), epochs=10, random_state=0, **kw), YJ),
        (lambda **kw: JointRegressorClassifier((8,), epochs=10, random_state=0,
                                               loss_weights="auto", dropout=0.2, **kw), YJ),
    ],
)
def test_fast_and_general_paths_agree(make, y):
    fast = make().fit(X, y)
    general = make(callbacks=[NoOp()]).fit(X, y)
    np.testing.assert_allclose(fast.predict_proba(X), general.predict_proba(X),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.history_["loss"], general.history_["loss"], rtol=1e-4)
    if "regression_log_variance" in fast.history_:  # loss_weights="auto"
        assert sorted(fast.history_) == sorted(general.history_)
        for key in fast.history_:  # each head's own loss, and its learned log-variance
            np.testing.assert_allclose(fast.history_[key], general.history_[key],
                                       rtol=1e-4, atol=1e-6)
        _check_learned_weights_history(fast.history_, ["regression", "classification"])


def _check_learned_weights_history(history, heads):
    """Each head's own loss (a cross-entropy: positive), its log-variance s apart,
    and the total what was minimised: about sum(exp(-s) L + s)."""
    assert min(history["classification_loss"]) > 0
    own = np.array([history[f"{h}_loss"] for h in heads])
    s = np.array([history[f"{h}_log_variance"] for h in heads])
    np.testing.assert_allclose(history["loss"], (np.exp(-s) * own + s).sum(axis=0),
                               rtol=1e-2, atol=1e-3)


def test_trainer_is_cached_per_architecture_and_reseeded():
    _cache.clear_cache()
    first = MultiLabelMLPClassifier((8,), epochs=5, random_state=1).fit(X, Y).predict_proba(X)
    trainer = _cached_trainers()[0]
    compiled = trainer.compilations()
    for seed in (2, 3, 4):  # other seeds in between: no new compilation
        MultiLabelMLPClassifier((8,), epochs=5, random_state=seed).fit(X, Y)
    again = MultiLabelMLPClassifier((8,), epochs=5, random_state=1).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(first, again)
    assert _cached_trainers() == [trainer]
    assert trainer.compilations() == compiled
    MultiLabelMLPClassifier((4,), epochs=1).fit(X, Y)
    assert len(_cached_trainers()) == 2


def _cached_trainers():
    return [trainer for trainer, _ in _cache._ENTRIES.values()]


def test_learning_rate_and_optimizer_state_reset_between_fits():
    a = MultiLabelMLPClassifier((8,), epochs=3, learning_rate=0.1, random_state=0).fit(X, Y)
    b = MultiLabelMLPClassifier((8,), epochs=3, learning_rate=0.001, random_state=0).fit(X, Y)
    assert not np.allclose(a.predict_proba(X), b.predict_proba(X))
    c = MultiLabelMLPClassifier((8,), epochs=3, learning_rate=0.1, random_state=0).fit(X, Y)
    np.testing.assert_array_equal(a.predict_proba(X), c.predict_proba(X))


def test_predict_is_numpy_and_matches_keras():
    clf = MultiLabelMLPClassifier((8, 4), epochs=3, random_state=0, activation="gelu").fit(X, Y)
    keras_out = np.asarray(clf.model_(X.astype(np.float32))["labels"])
    np.testing.assert_allclose(clf.predict_proba(X), keras_out, rtol=1e-5, atol=1e-6)
    assert clf._dense_layers  # the NumPy path is used


def test_memory_stays_bounded_over_many_fits():
    """A grid search's pattern: the same folds, many parameter settings."""
    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    folds = [slice(0, 100), slice(50, 150), slice(0, 150)]
    for i in range(9):  # warm-up: one compilation per fold size
        MultiLabelMLPClassifier((8,), epochs=1, random_state=i).fit(X[folds[i % 3]],
                                                                    Y[folds[i % 3]])
    before = rss_mb()
    n = 60
    for i in range(n):
        fold = folds[i % 3]
        clf = MultiLabelMLPClassifier((8,), epochs=1, random_state=i,
                                      learning_rate=0.001 * (1 + i % 4), threshold=0.4)
        clf.fit(X[fold], Y[fold]).predict(X)
    growth_per_fit = (rss_mb() - before) / n
    assert growth_per_fit < 0.5, f"{growth_per_fit:.3f} MB per fit"


tf_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                             reason="the TensorFlow backend's XLA compilation")


@tf_only
def test_tf_epoch_order_real_rows_first_same_bits_under_xla():
    import tensorflow as tf

    from mtestimator.engine.backend_tensorflow import epoch_order

    alone = epoch_order(50, 3, 7).numpy()
    padded = epoch_order(50, 3, 7, 96).numpy()
    assert sorted(alone) == list(range(50)) and sorted(padded[50:]) == list(range(50, 96))
    np.testing.assert_array_equal(padded[:50], alone)  # the padding changes nothing
    assert not np.array_equal(alone, epoch_order(50, 3, 8).numpy())
    assert not np.array_equal(alone, epoch_order(50, 4, 7).numpy())
    xla = tf.function(lambda n, seed, epoch: epoch_order(n, seed, epoch, 96), jit_compile=True)
    np.testing.assert_array_equal(xla(tf.constant(50), tf.constant(3), tf.constant(7)).numpy(),
                                  padded)


@tf_only
def test_tf_xla_and_graph_executor_train_alike(monkeypatch):
    """MTESTIMATOR_TF_XLA=0 runs the same function without XLA: the same batches,
    the same result up to float32 rounding (no dropout: XLA draws other masks)."""
    fits = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("MTESTIMATOR_TF_XLA", flag)
        _cache.clear_cache()
        est = JointRegressorClassifier((8,), epochs=5, batch_size=20, random_state=0)
        fits[flag] = est.fit(X, YJ).predict_proba(X)
        (trainer,) = _cached_trainers()
        assert trainer._xla == (flag == "1")
    np.testing.assert_allclose(fits["1"], fits["0"], rtol=1e-5, atol=1e-6)


def _unxlaable_trunk(input_shape, seed=None):
    """A trunk with a NumPy function inside, which XLA cannot compile."""
    import tensorflow as tf

    def numpy_tanh(t):
        out = tf.numpy_function(np.tanh, [t], tf.float32)
        return tf.ensure_shape(out, t.shape)

    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(seed)),
        keras.layers.Lambda(numpy_tanh, output_shape=(4,))])


@tf_only
def test_tf_network_xla_cannot_compile_trains_in_the_graph_executor():
    from mtestimator import MultiTaskEstimator
    from mtestimator.heads import ClassificationHead, RegressionHead
    from mtestimator.trunks import KerasTrunk

    _cache.clear_cache()
    est = MultiTaskEstimator(heads=[("v", RegressionHead(0)), ("c", ClassificationHead(1))],
                             trunk=KerasTrunk(_unxlaable_trunk), epochs=3, random_state=0)
    est.fit(X.astype(np.float32), YJ)
    (trainer,) = _cached_trainers()
    assert not trainer._xla and np.isfinite(est.history_["loss"]).all()
    assert len(est.history_["loss"]) == 3


def test_dwa_weights_follow_the_heads_loss_ratios():
    from mtestimator.engine.trainer import dwa_weights

    logs = [{"a_loss": 1.0, "b_loss": 1.0}]
    np.testing.assert_array_equal(dwa_weights(logs, ["a", "b"]), [1, 1])  # too early
    logs.append({"a_loss": 0.5, "b_loss": 1.0})  # a halves, b stalls: b weighs more
    w = dwa_weights(logs, ["a", "b"])
    assert w.sum() == pytest.approx(2) and w[1] / w[0] == pytest.approx(np.exp(0.25))


@pytest.mark.backend
def test_dwa_balancing_trains_on_the_compiled_path_only():
    from mtestimator import MultiTaskEstimator
    from mtestimator.heads import ClassificationHead, RegressionHead
    from mtestimator.trunks import MLPTrunk

    rng = np.random.RandomState(0)
    X = rng.normal(size=(64, 3))
    y = pd.DataFrame({"v": X[:, 0] * 10, "c": np.where(X[:, 1] > 0, "a", "b")})
    heads = [("v", RegressionHead("v", scale=False)), ("c", ClassificationHead("c"))]

    def fit(**kw):
        return MultiTaskEstimator(heads, trunk=MLPTrunk((4,)), epochs=4, random_state=0,
                                  **kw).fit(X, y)

    dwa, plain = fit(loss_weights="dwa"), fit()
    assert dwa.history_["loss"][:2] == plain.history_["loss"][:2]  # weights 1 at first
    assert dwa.history_["loss"][2:] != plain.history_["loss"][2:]
    assert fit(loss_weights="dwa").history_ == dwa.history_  # seeded
    with pytest.raises(ValueError, match="Loss balancing 'dwa'.*per-batch hooks"):
        fit(loss_weights="dwa", callbacks=[keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: None)])
