"""The JAX trainer: what recompiles, chunked runs, padding, memory, the disk cache."""

import gc
import os
import subprocess
import sys
import textwrap
import weakref

import keras
import numpy as np
import pytest

if keras.backend.backend() != "jax":
    pytest.skip("JAX backend only", allow_module_level=True)

import jax  # noqa: E402
import jax.extend.backend  # noqa: E402

from mtestimator import JointRegressorClassifier, clear_cache  # noqa: E402
from mtestimator.engine import backend_jax as _backend_jax, cache as _cache  # noqa: E402
from mtestimator.engine.backend_jax import Trainer, epoch_order  # noqa: E402
from mtestimator.engine.networks import VariableRateDropout  # noqa: E402

pytestmark = pytest.mark.backend  # the JAX trainer

rng = np.random.RandomState(0)
X = rng.randn(120, 6).astype(np.float32)
Y = {"a": rng.randn(120, 1).astype(np.float32),
     "b": (rng.rand(120, 1) > 0.5).astype(np.float32)}
W = {"a": np.ones(120, np.float32), "b": rng.uniform(0.5, 2, 120).astype(np.float32)}


def make_trainer(seed=0):
    """Two heads on a Dense layer with variable-rate dropout; seeded, so two
    trainers start from the same weights."""
    def init(offset):
        return keras.initializers.GlorotUniform(seed + offset)

    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu", kernel_initializer=init(0))(inputs)
    hidden = VariableRateDropout(0.2, seed=seed, name="dropout")(hidden)
    outputs = {"a": keras.layers.Dense(1, kernel_initializer=init(1), name="a")(hidden),
               "b": keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init(2),
                                       name="b")(hidden)}
    model = keras.Model(inputs, outputs)
    trainer = Trainer(model, {"a": "mse", "b": "binary_crossentropy"},
                      keras.optimizers.Adam(0.01))
    trainer.initial = [np.array(v.value) for v in model.variables]  # with the dropout seed
    return trainer


def restart(trainer, learning_rate=0.01, loss_weights=None, dropout=0.2):
    """A fresh fit: the initial weights and dropout seed, a new optimizer."""
    for var, value in zip(trainer.model.variables, trainer.initial):
        var.assign(value)
    trainer.reset(trainer.model, learning_rate, loss_weights)
    trainer.model.get_layer("dropout").rate_variable.assign(dropout)


def rows(n):
    return X[:n], {k: v[:n] for k, v in Y.items()}, {k: v[:n] for k, v in W.items()}


def train(trainer, n=100, epochs=5, batch_size=16, seed=0, first_epoch=0):
    history = trainer._epochs(trainer._data(*rows(n)), first_epoch, epochs, batch_size, seed)
    return history, [np.array(w) for w in trainer.model.get_weights()]


def assert_same(a, b, rtol=1e-6):
    (hist_a, weights_a), (hist_b, weights_b) = a, b
    np.testing.assert_allclose(hist_a, hist_b, rtol=rtol, atol=1e-7)
    for wa, wb in zip(weights_a, weights_b):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=1e-7)


def test_buckets():
    assert [_backend_jax._rows_bucket(n) for n in (1, 32, 33, 48, 49, 64, 65, 100, 1000)] == \
        [32, 32, 48, 48, 64, 64, 96, 128, 1024]
    assert [_backend_jax._batch_capacity(b) for b in (1, 2, 3, 16, 17, 32, 33, 200)] == \
        [1, 2, 4, 16, 32, 32, 64, 256]
    learning_curve = np.linspace(0.1, 1.0, 10) * 900  # 10 sizes, from 10% to 100%
    assert len({_backend_jax._rows_bucket(int(n)) for n in learning_curve}) <= 6
    assert len({_backend_jax._batch_capacity(b) for b in range(8, 129)}) == 5


def test_epoch_order_ignores_padding():
    padded_order = jax.jit(epoch_order, static_argnums=3)
    for n, size in ((1, 32), (50, 64), (100, 128), (700, 768)):
        order = np.asarray(padded_order(n, np.uint32(3), 7, size))
        np.testing.assert_array_equal(
            order[:n], np.asarray(_backend_jax._epoch_order_of_n(n, np.uint32(3), 7)))
        np.testing.assert_array_equal(np.sort(order[:n]), np.arange(n))
        np.testing.assert_array_equal(order[n:], np.arange(n, size))
    assert not np.array_equal(padded_order(100, np.uint32(3), 7, 128),
                              padded_order(100, np.uint32(3), 8, 128))


def test_values_never_recompile():
    trainer = make_trainer()
    restart(trainer)
    train(trainer, n=64)
    val = trainer._data(*rows(50))
    trainer._evaluate(val)
    for lr, weights, dropout, n, epochs, batch_size, seed, first_epoch in [
        (0.1, {"a": 0.5, "b": 2.0}, 0.0, 49, 1, 9, 1, 0),
        (0.001, {"a": 0.0, "b": 1.0}, 0.5, 57, 7, 13, 2, 3),
        (0.01, None, 0.2, 64, 3, 16, 2**40 + 5, 100),
    ]:
        restart(trainer, lr, weights, dropout)
        train(trainer, n=n, epochs=epochs, batch_size=batch_size, seed=seed,
              first_epoch=first_epoch)
        trainer._evaluate(trainer._data(*rows(n)))
    assert trainer.compilations() == 1
    assert trainer._eval._cache_size() == 1


def test_settings_change_results_without_recompiling():
    trainer = make_trainer()
    restart(trainer)
    base = train(trainer)
    for settings in ({"learning_rate": 0.1}, {"loss_weights": {"a": 3.0, "b": 1.0}},
                     {"dropout": 0.5}):
        restart(trainer, **settings)
        assert not np.allclose(train(trainer)[0], base[0])
    restart(trainer)
    assert_same(train(trainer), base)
    assert trainer.compilations() == 1


def test_loss_weights_weight_the_total():
    trainer = make_trainer()
    restart(trainer, loss_weights={"a": 0.25, "b": 3.0})
    history = train(trainer)[0]
    np.testing.assert_allclose(history[:, 0], 0.25 * history[:, 1] + 3.0 * history[:, 2],
                               rtol=1e-5)
    restart(trainer, loss_weights={"a": 0.25, "b": 3.0})
    losses = trainer._evaluate(trainer._data(*rows(100)))
    np.testing.assert_allclose(losses[0], 0.25 * losses[1] + 3.0 * losses[2], rtol=1e-5)


def test_chunks_equal_one_call():
    trainer = make_trainer()
    restart(trainer)
    whole = train(trainer, epochs=10, seed=4)
    restart(trainer)
    data = trainer._data(*rows(100))
    history = np.concatenate([trainer._epochs(data, first, n, 16, 4)
                              for first, n in ((0, 3), (3, 4), (7, 3))])
    assert_same((history, trainer.model.get_weights()), whole)
    assert history.shape == (10, 3)


def test_long_runs_loop_in_python(monkeypatch):
    trainer = make_trainer()
    restart(trainer)
    whole = train(trainer, epochs=10)
    monkeypatch.setattr(_backend_jax, "_MAX_EPOCHS", 4)  # a history buffer of 4 epochs
    short = make_trainer()
    restart(short)
    assert_same(train(short, epochs=10), whole)


def test_padding_rows_are_never_read():
    """The same rows give the same training whatever their bucket and whatever
    the padding holds; evaluation too."""
    trainer = make_trainer()
    restart(trainer)
    train(trainer, n=90)  # an earlier fit of another size in the same bucket (96)
    restart(trainer)
    padded = train(trainer, n=70)
    fresh = make_trainer()
    restart(fresh)
    assert_same(train(fresh, n=70), padded)

    def garbage(a, size):
        filler = np.full((size - len(a), *a.shape[1:]), np.nan, a.dtype)
        return jax.numpy.asarray(np.concatenate([a, filler]))

    Xn, Yn, Wn = rows(70)
    data = (garbage(Xn, 256), {k: garbage(v, 256) for k, v in Yn.items()},
            {k: garbage(v, 256) for k, v in Wn.items()}, np.int32(70))
    restart(fresh)
    history = fresh._epochs(data, 0, 5, 16, 0)
    assert_same((history, fresh.model.get_weights()), padded)
    np.testing.assert_allclose(fresh._evaluate(data), fresh._evaluate(fresh._data(Xn, Yn, Wn)),
                               rtol=1e-6)


def test_estimator_sweep_compiles_once():
    """Epochs, batch sizes 17-32, sizes 97-128, seeds, learning rates, loss weights,
    dropout: one trainer, one compilation."""
    clear_cache()
    Xe = rng.randn(128, 5)
    ye = np.column_stack([Xe[:, 0], Xe[:, 1] > 0])
    for i, (n, batch_size, epochs) in enumerate([(128, 32, 2), (100, 17, 3), (111, 24, 1)]):
        JointRegressorClassifier((8,), epochs=epochs, batch_size=batch_size, random_state=i,
                                 learning_rate=0.01 * (i + 1), dropout=0.1 * (i + 1),
                                 loss_weights=[1.0, 0.5 * (i + 1)]).fit(Xe[:n], ye[:n])
    ((trainer, _),) = _cache._ENTRIES.values()
    assert trainer.compilations() == 1


def test_dropped_trainer_is_collected():
    backend = jax.extend.backend.get_backend()
    trainer = make_trainer()
    restart(trainer)
    train(trainer)
    trainer._evaluate(trainer._data(*rows(30)))
    ref = weakref.ref(trainer)
    executables = len(backend.live_executables())
    del trainer
    gc.collect()
    assert ref() is None
    assert len(backend.live_executables()) <= executables - 2  # training and evaluation


# -- the persistent compilation cache, each in a fresh process ----------------------

_FIT = textwrap.dedent("""
    import jax, numpy as np
    hits = []
    jax.monitoring.register_event_listener(
        lambda name, **kw: hits.append(name) if name.endswith("cache_hits") else None)
    from mtestimator import MultiLabelMLPClassifier
    {setup}
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 4), rng.rand(60, 2) > 0.5
    score = MultiLabelMLPClassifier((4,), epochs=3, random_state=0).fit(X, y).score(X, y)
    print("DIR", jax.config.jax_compilation_cache_dir, "HITS", len(hits), "SCORE", score)
""")


def fit_in_process(env, setup=""):
    env = {**os.environ, "KERAS_BACKEND": "jax", **env}
    result = subprocess.run([sys.executable, "-c", _FIT.format(setup=setup)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    words = result.stdout.split("DIR ")[-1].split()
    return {"dir": words[0], "hits": int(words[2]), "stderr": result.stderr}


@pytest.mark.slow
def test_persistent_cache_reused_by_a_new_process(tmp_path):
    cache = tmp_path / "cache"
    first = fit_in_process({"MTESTIMATOR_JAX_CACHE_DIR": str(cache)})
    assert first["dir"] == str(cache) and any(cache.iterdir())
    assert fit_in_process({"MTESTIMATOR_JAX_CACHE_DIR": str(cache)})["hits"] >= 1


@pytest.mark.slow
def test_persistent_cache_write_errors_do_not_stop_training(tmp_path):
    full_disk = fit_in_process(
        {"MTESTIMATOR_JAX_CACHE_DIR": str(tmp_path / "cache")},
        setup="from jax._src import lru_cache\n"
              "def put(*args): raise OSError(28, 'No space left on device')\n"
              "lru_cache.LRUCache.put = put")
    assert full_disk["dir"] == str(tmp_path / "cache")
    assert "No space left on device" in full_disk["stderr"]  # JAX's warning, no error


@pytest.fixture
def no_jax_cache_dir():
    """No cache directory configured, for the test's duration (which compiles nothing)."""
    configured = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", None)
    yield
    jax.config.update("jax_compilation_cache_dir", configured)


def test_persistent_cache_dir(monkeypatch, tmp_path, no_jax_cache_dir):
    monkeypatch.setenv("MTESTIMATOR_JAX_CACHE_DIR", str(tmp_path / "ours"))
    assert _backend_jax._persistent_cache_dir() == str(tmp_path / "ours")
    monkeypatch.setenv("MTESTIMATOR_JAX_CACHE_DIR", "")
    assert _backend_jax._persistent_cache_dir() is None
    monkeypatch.delenv("MTESTIMATOR_JAX_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _backend_jax._persistent_cache_dir() == str(tmp_path / ".cache/mtestimator/jax")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("MTESTIMATOR_JAX_CACHE_DIR", str(blocker / "cache"))  # unwritable
    assert _backend_jax._persistent_cache_dir() is None
    monkeypatch.setenv("MTESTIMATOR_JAX_CACHE_DIR", str(tmp_path / "ours"))
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "users"))
    assert _backend_jax._persistent_cache_dir() is None  # the user's own cache stays


def test_unwritable_persistent_cache_still_trains(monkeypatch, tmp_path, no_jax_cache_dir):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("MTESTIMATOR_JAX_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(_backend_jax, "_persistent_cache_checked", False)
    _backend_jax._enable_persistent_cache()  # what importing the module does, once
    assert jax.config.jax_compilation_cache_dir is None
    trainer = make_trainer()
    restart(trainer)
    assert np.isfinite(train(trainer)[0]).all()


def test_clear_cache_clears_jax_compilation_caches():
    """What Keras compiled while building networks stays in JAX's process-wide
    caches until clear_cache() (the speed benchmark's memory row measures it)."""
    JointRegressorClassifier((4,), epochs=1).fit(X, np.column_stack([Y["a"][:, 0], Y["b"][:, 0]]))
    jitted = jax.jit(lambda x: x + 1)
    jitted(np.float32(1))
    assert jitted._cache_size() == 1 and _cache._ENTRIES
    clear_cache()
    assert jitted._cache_size() == 0 and not _cache._ENTRIES
