"""The measurements of the speed benchmark, each run inside a worker process.

``task_<name>(quick)`` returns a dict of plain numbers (seconds, MB,
counts); :mod:`benchmarks.bench_speed` turns them into rows. The worker
(:mod:`benchmarks._speed_worker`) has already imported ``mtestimator`` and
set the Keras backend; Keras itself is imported only where a task needs it,
so that a cold task imports what a user's script would.
"""

import functools
import gc
import os
import signal
import sys
import time
from contextlib import nullcontext

import numpy as np
from joblib import parallel_config
from sklearn.base import clone
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, RepeatedKFold, \
    cross_val_score
from sklearn.utils.validation import check_is_fitted

import mtestimator
from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier, \
    MultiTaskEstimator, SeparateNetworks
from mtestimator.heads import ClassificationHead, RegressionHead
from mtestimator.trunks import MLPTrunk

from ._harness import predict_ms
from ._speed_worker import mark

#: GridSearchCV's 8 candidates (two architectures): 40 fits with cv=5.
GRID = {"hidden_layer_sizes": [(10,), (20,)], "learning_rate": [1e-3, 3e-3, 1e-2, 3e-2]}
INTERRUPT_EPOCHS = 100_000  # far longer than the benchmark waits
DATA_ENV = "MTESTIMATOR_SPEED_DATA"


# -- data and tools ----------------------------------------------------------------


def pick(quick, small, full, smoke=None):
    """``full`` for the full run, ``small`` with --quick; with --smoke (``quick`` is
    "smoke": the test suite's run, every code path at its smallest) ``smoke``,
    or ``small`` where there is no smaller size."""
    if quick == "smoke" and smoke is not None:
        return smoke
    return small if quick else full


@functools.cache
def reference_data():
    """The reference multi-label set: 1000 rows, 10 features, 3 labels; read
    from the file ``$MTESTIMATOR_SPEED_DATA`` when there is one (generating
    the set takes seconds, and no measure should include that)."""
    path = os.environ.get(DATA_ENV)
    if path and os.path.exists(path):
        with np.load(path) as saved:
            return saved["X"], saved["y"]
    return make_multilabel_classification(n_samples=1000, n_features=10, n_classes=3,
                                          n_labels=2, random_state=1)


def write_reference_data(path):
    """Generate the reference set once, for every worker (see reference_data)."""
    X, y = reference_data()
    np.savez(path, X=X, y=y)


def reference_cv(quick):
    """RepeatedKFold(10, 3) (one repeat with --quick, 2 folds with --smoke)."""
    return RepeatedKFold(n_splits=pick(quick, 10, 10, 2), n_repeats=pick(quick, 1, 3),
                         random_state=1)


def labelled_rows(n):
    """``n`` rows of 10 normal features and 3 labels (the signs of the first 3)."""
    X = np.random.RandomState(0).normal(size=(n, 10)).astype(np.float32)
    return X, (X[:, :3] > 0).astype(int)


def timed(function):
    """(seconds, result) of ``function()``."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def clear_cache():
    """``mtestimator.clear_cache``, or the older private one; and which it was."""
    public = getattr(mtestimator, "clear_cache", None)
    if public is not None:
        return public, "mtestimator.clear_cache"
    from mtestimator.engine.cache import clear_cache as private

    return private, "mtestimator.engine.cache.clear_cache"


# -- the reference protocol ------------------------------------------------------------


def task_reference(quick):
    """cross_val_score on the reference protocol, cold (the parent times the
    process up to the ``cv_done`` mark), then again in this process (warm)."""
    X, y = reference_data()
    cv = reference_cv(quick)
    scores = cross_val_score(MultiLabelMLPClassifier(), X, y, cv=cv)
    mark("cv_done")
    warm, _ = timed(lambda: cross_val_score(MultiLabelMLPClassifier(), X, y, cv=cv))
    return {"n_fits": len(scores), "scores": scores.tolist(), "warm_per_fit": warm / len(scores),
            "tensorflow_loaded": "tensorflow" in sys.modules}


def task_plain(quick):
    """The baselines on the same splits: REFERENCE.md's plain Keras loop
    (``model.fit`` per fold, the first fit's tracing included) and
    scikit-learn's MLPClassifier."""
    from sklearn.neural_network import MLPClassifier

    from .bench_multilabel import evaluate, reference_loop

    X, y = reference_data()
    splits = list(reference_cv(quick).split(X, y))
    times, scores = [], []
    for train, test in splits[:pick(quick, 1, 10)]:
        seconds, fitted = timed(lambda: reference_loop(X[train], y[train],
                                                       epochs=pick(quick, 100, 100, 2)))
        times.append(seconds)
        scores.append(evaluate(fitted, X[test], y[test])["subset_accuracy"])
    mlp_splits = splits[:pick(quick, 2, len(splits))]
    mlp_s, mlp_scores = timed(lambda: cross_val_score(
        MLPClassifier((20,), batch_size=32, max_iter=100), X, y, cv=mlp_splits))
    return {"plain_per_fit": float(np.mean(times)), "plain_scores": scores,
            "mlp_per_fit": mlp_s / len(mlp_splits),
            "mlp_accuracy": mlp_scores.mean()}


# -- searches --------------------------------------------------------------------------


def task_grid(quick):
    """GridSearchCV, 40 fits, n_jobs=2 then n_jobs=1, each twice.

    A first fit of another architecture imports the backend in this process;
    nothing of the grid is compiled before the first search of each n_jobs
    (``refit=False``: no fit in this process during the n_jobs=2 search).
    The first n_jobs=2 search starts the joblib workers (their imports
    included); the second reuses them. With --smoke the n_jobs=2 searches
    run in threads: the rows' code runs without starting worker processes
    (tests/test_reliability.py starts them)."""
    X, y = reference_data()
    MultiLabelMLPClassifier((5,), epochs=1).fit(X, y)
    search = GridSearchCV(MultiLabelMLPClassifier(epochs=pick(quick, 10, 100, 1),
                                                  random_state=0),
                          GRID, cv=pick(quick, 5, 5, 2), refit=False)
    out = {}
    for label in ("cold", "warm"):
        for n_jobs in (2, 1):
            with (parallel_config(backend="threading") if quick == "smoke" else nullcontext()):
                out[f"{label}_{n_jobs}"], _ = timed(
                    lambda: clone(search).set_params(n_jobs=n_jobs).fit(X, y))
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)
    return out


def task_random(quick):
    """RandomizedSearchCV, 12 candidates x 3 folds, varying the learning rate
    only, then also dropout and batch size. A 3-fold cross-validation of the
    fixed settings first compiles what the fixed search needs."""
    from scipy.stats import loguniform, uniform

    fixed = {"learning_rate": loguniform(1e-3, 3e-2)}
    varying = {**fixed, "dropout": uniform(0.0, 0.5), "batch_size": [24, 32, 40, 48]}
    X, y = reference_data()
    est = MultiLabelMLPClassifier(epochs=pick(quick, 5, 100, 1), dropout=0.1, batch_size=32,
                                  random_state=0)
    cross_val_score(est, X, y, cv=3)
    out = {}
    for name, space in (("fixed", fixed), ("varying", varying)):
        out[name], _ = timed(lambda: RandomizedSearchCV(
            est, space, n_iter=pick(quick, 12, 12, 4), cv=3, refit=False,
            random_state=0).fit(X, y))
    return out


# -- memory --------------------------------------------------------------------------


def task_memory(quick):
    """RSS growth over fits cycling through architectures (20 x 8 = 160 fits;
    4 x 3 with --quick), from after one warm-up fit; then after clear_cache()."""
    X, y = reference_data()
    n_archs, cycles = pick(quick, (4, 3), (20, 8), (2, 2))
    archs = [(10 + 2 * i,) for i in range(n_archs)]

    def fit(k):
        MultiLabelMLPClassifier(archs[k % n_archs], epochs=2, random_state=k).fit(X, y)

    fit(0)
    gc.collect()
    before = rss_mb()
    for k in range(n_archs * cycles):
        fit(k)
    gc.collect()
    after = rss_mb()
    clear, which = clear_cache()
    clear()
    gc.collect()
    return {"fits": n_archs * cycles, "architectures": n_archs, "before_mb": before,
            "growth_mb": after - before, "after_clear_mb": rss_mb() - before, "clear": which}


# -- callbacks, progress, Ctrl-C ---------------------------------------------------------


def task_callbacks(quick):
    """A fit with EarlyStopping(monitor="loss", patience=5) + History() vs
    none, after one fit of each (compiling); the median of 5 fits of each,
    alternating (a single 0.1 s fit is mostly noise)."""
    import keras

    X, y = reference_data()
    epochs = pick(quick, 20, 100, 5)

    def fit(with_callbacks):
        callbacks = ([keras.callbacks.EarlyStopping(monitor="loss", patience=5),
                      keras.callbacks.History()] if with_callbacks else None)
        est = MultiLabelMLPClassifier(epochs=epochs, callbacks=callbacks, random_state=0)
        seconds, _ = timed(lambda: est.fit(X, y))
        return seconds, est.n_iter_

    runs = {"none": [], "callbacks": []}
    for with_callbacks in (False, True):
        fit(with_callbacks)
    for _ in range(pick(quick, 1, 5)):
        for name, with_callbacks in (("none", False), ("callbacks", True)):
            runs[name].append(fit(with_callbacks))
    out = {}
    for name, timed_runs in runs.items():
        out[f"{name}_s"] = float(np.median([seconds for seconds, _ in timed_runs]))
        out[f"{name}_epochs"] = timed_runs[-1][1]
    return out


def task_verbose(quick):
    """Fits at verbose=1 and verbose=2 between marks; the parent reads what
    they printed (stdout and stderr)."""
    X, y = labelled_rows(pick(quick, 30_000, 100_000, 3_000))
    epochs = pick(quick, 6, 10, 3)
    for level in (1, 2):
        mark(f"verbose{level}_start")
        MultiLabelMLPClassifier(epochs=epochs, verbose=level, random_state=0).fit(X, y)
        mark(f"verbose{level}_end")
    return {"epochs": epochs}


def task_interrupt(quick):
    """A long default fit (100k rows); the parent sends SIGINT after the
    ``fit_start`` mark; ``interrupted`` marks the KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the parent ignores it
    X, y = labelled_rows(100_000)
    est = MultiLabelMLPClassifier(epochs=INTERRUPT_EPOCHS, random_state=0)
    mark("fit_start")
    try:
        est.fit(X, y)
    except KeyboardInterrupt:
        mark("interrupted")
    else:
        return {"interrupted": False}
    try:
        check_is_fitted(est)
        fitted = True
    except NotFittedError:
        fitted = False
    return {"interrupted": True, "fitted_after": fitted}


# -- prediction -----------------------------------------------------------------------


def task_latency(quick):
    """Median ms of predict / predict_proba on 1 and 1,000 rows vs the Keras
    model's own ``predict``."""
    X, y = reference_data()
    clf = MultiLabelMLPClassifier(epochs=5, random_state=0).fit(X, y)
    out = {}
    for n in (1, 1000):
        out[f"keras_{n}"] = predict_ms(
            lambda rows: clf.model_.predict(rows.astype(np.float32), verbose=0), X, n,
            repeats=pick(quick, 5, 20))
        for method in ("predict", "predict_proba"):
            out[f"{method}_{n}"] = predict_ms(getattr(clf, method), X, n,
                                              repeats=pick(quick, 50, 200))
    return out


def task_predict_regression(quick):
    """JointRegressorClassifier.predict_regression vs MLPRegressor.predict
    with the same hidden layers (20, 10), on 1M rows (200k with --quick)."""
    from sklearn.neural_network import MLPRegressor

    n = pick(quick, 200_000, 1_000_000, 20_000)
    X = np.random.RandomState(0).normal(size=(n, 8))
    value = X[:, 0] + X[:, 1]
    y = np.column_stack([value, value > 0])
    ours = JointRegressorClassifier((20, 10), epochs=2, random_state=0).fit(X[:2000], y[:2000])
    mlp = MLPRegressor(hidden_layer_sizes=(20, 10), max_iter=5, random_state=0)
    mlp.fit(X[:2000], value[:2000])
    times = {"ours_s": [], "mlp_s": []}
    for _ in range(pick(quick, 3, 5)):  # alternating, so that noise hits both alike
        times["ours_s"].append(predict_ms(ours.predict_regression, X, n, 1) / 1000)
        times["mlp_s"].append(predict_ms(mlp.predict, X, n, 1) / 1000)
    return {"rows": n, **{k: float(np.median(v)) for k, v in times.items()}}


# -- joint vs separate, seconds per epoch ------------------------------------------------


def task_joint(quick):
    """Abalone, a regression and a classification head on Dense(20, 10):
    one MultiTaskEstimator vs SeparateNetworks (same heads, trunk, epochs,
    seed), after one fit of each; the median of 3 alternating fits of each."""
    from mtestimator.datasets import load_abalone

    data = load_abalone()
    y = np.column_stack([data.target.astype(float), data.target])
    heads = [("regression", RegressionHead(0)), ("classification", ClassificationHead(1))]
    trunk = MLPTrunk((20, 10), kernel_initializer="he_normal")
    epochs = pick(quick, 10, 150, 2)
    estimators = {name: cls(heads=heads, trunk=trunk, epochs=epochs, random_state=0)
                  for name, cls in (("joint", MultiTaskEstimator),
                                    ("separate", SeparateNetworks))}
    times = {name: [] for name in estimators}
    for est in estimators.values():
        clone(est).fit(data.data, y)
    for _ in range(pick(quick, 1, 3)):
        for name, est in estimators.items():
            times[name].append(timed(lambda: est.fit(data.data, y))[0])
    return {"epochs": epochs, **{f"{k}_s": float(np.median(v)) for k, v in times.items()}}


def task_epochs(quick):
    """Fit seconds per epoch at 1k, 10k, 100k and 1M rows (1k, 10k with --quick),
    on a second fit."""
    out = {}
    for n in pick(quick, (1_000, 10_000), (1_000, 10_000, 100_000, 1_000_000), (1_000,)):
        X, y = labelled_rows(n)
        est = MultiLabelMLPClassifier(epochs=5 if n < 100_000 else 1, random_state=0)
        est.fit(X, y)
        seconds, _ = timed(lambda: est.fit(X, y))
        out[str(n)] = seconds / est.epochs
    return out


# -- big data: seconds per epoch and peak memory (issue 23) ----------------------------


def big_data(n):
    """``n`` rows of 20 normal float32 features; y: a regression target and
    its sign (a binary target)."""
    rng, X = np.random.RandomState(0), np.empty((n, 20), np.float32)
    for start in range(0, n, 65536):  # no float64 copy: the memory row's idle peak is X's
        X[start:start + 65536] = rng.normal(size=(len(X[start:start + 65536]), 20))
    value = X[:, 0] + X[:, 1] + 0.5 * X[:, 2] * X[:, 3]
    return X, np.column_stack([value, value > 0])


def big_estimator(epochs):
    """The issue's network: (64, 32) MLP, a regression and a binary head, batch 256, Adam."""
    return MultiTaskEstimator(heads=[("value", RegressionHead(0)),
                                     ("sign", ClassificationHead(1))],
                              trunk=MLPTrunk((64, 32)), batch_size=256, epochs=epochs,
                              random_state=0)


def _keras_big(epochs):
    """Plain Keras on the same network: ``model.fit`` on two outputs."""
    import keras

    inputs = keras.Input((20,))
    h = keras.layers.Dense(64, activation="relu")(inputs)
    h = keras.layers.Dense(32, activation="relu")(h)
    model = keras.Model(inputs, [keras.layers.Dense(1)(h),
                                 keras.layers.Dense(1, activation="sigmoid")(h)])
    model.compile("adam", ["mse", "binary_crossentropy"])

    def fit(X, y, n_epochs=epochs):
        model.fit(X, [y[:, :1], y[:, 1:]], batch_size=256, epochs=n_epochs, verbose=0)
    return fit


def task_big(quick):
    """Fit seconds per epoch at 200k and 1M rows (20k with --quick, 5k with
    --smoke): ours, scikit-learn's MLPRegressor (one thread, same layers,
    two outputs, batch 256, adam) and plain Keras ``model.fit`` on the same
    network, each after a warm-up fit; median of 3 alternating fits."""
    from sklearn.neural_network import MLPRegressor
    from threadpoolctl import threadpool_limits

    epochs = pick(quick, 2, 3, 1)
    out = {}
    for n in pick(quick, (20_000,), (200_000, 1_000_000), (5_000,)):
        X, y = big_data(n)
        keras_fit = _keras_big(epochs)
        mlp = MLPRegressor(hidden_layer_sizes=(64, 32), batch_size=256, max_iter=epochs, tol=0.0,
                           n_iter_no_change=epochs + 1, random_state=0)

        def sklearn_fit():
            with threadpool_limits(1):
                clone(mlp).fit(X, y.astype(np.float64))
        fits = {"ours": lambda: big_estimator(epochs).fit(X, y), "mlp": sklearn_fit,
                "keras": lambda: keras_fit(X, y)}
        big_estimator(1).fit(X, y)
        keras_fit(X, y, 1)  # traced for these shapes
        times = {name: [] for name in fits}
        for _ in range(pick(quick, 1, 3)):
            for name, fit in fits.items():
                times[name].append(timed(fit)[0] / epochs)
        out[str(n)] = {k: float(np.median(v)) for k, v in times.items()}
    return out


#: A fresh process: peak RSS (MB) after importing, making the data and two
#: small fits (the runtime and its compiler warm), then with "fit" after a
#: one-epoch fit on all the rows.
_RSS_SCRIPT = """
import resource, sys
from benchmarks._speed_tasks import big_data, big_estimator
mode, n = sys.argv[1], int(sys.argv[2])
X, y = big_data(n)
big_estimator(1).fit(X[:1000], y[:1000]); big_estimator(1).fit(X[:3000], y[:3000])
if mode == "fit":
    big_estimator(1).fit(X, y)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def task_big_memory(quick):
    """Peak RSS of a 1M x 20 fit (20k with --quick and --smoke) above an idle
    process that imported, made the data and fitted twice on a few rows,
    each in a fresh process (median of 3 pairs; one with --quick)."""
    import subprocess

    n = pick(quick, 20_000, 1_000_000)

    def peak(mode):
        done = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, mode, str(n)],
                              capture_output=True, text=True, check=True)
        return float(done.stdout.split()[-1])
    above = [peak("fit") - peak("idle") for _ in range(pick(quick, 1, 3))]
    return {"rows": n, "x_mb": n * 20 * 4 / 2**20, "above_mb": float(np.median(above))}
