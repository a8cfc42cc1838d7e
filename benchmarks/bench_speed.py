"""Speed and memory: every ratio against a baseline measured in the same run.

- Reference multi-label protocol (REFERENCE.md section 2) through
  ``cross_val_score``: MultiLabelMLPClassifier (TensorFlow backend, and the
  JAX backend in a subprocess) vs the hand-written plain Keras ``model.fit``
  loop vs scikit-learn's MLPClassifier, same splits; accuracy alongside.
- Joint abalone fit vs fitting the two separate single-task networks.
- predict / predict_proba latency for 1 and 1,000 rows (median after warm-up).
- RSS growth per fit over a grid search's worth of fits (both backends).
- GridSearchCV(n_jobs=2) vs n_jobs=1.
- Fit seconds per epoch for 1k, 10k, 100k and 1M rows.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_multilabel_classification
from sklearn.model_selection import GridSearchCV, RepeatedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier

from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier
from mtestimator.datasets import load_abalone

from .bench_multilabel import evaluate, reference_loop


def _reference_data():
    return make_multilabel_classification(n_samples=1000, n_features=10, n_classes=3,
                                          n_labels=2, random_state=1)


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cv_per_fit(estimator, X, y, cv):
    start = time.perf_counter()
    scores = cross_val_score(estimator, X, y, cv=cv)
    return (time.perf_counter() - start) / len(scores), scores


def _grid_rss(n_fits):
    """RSS growth per fit over a grid search: same folds, many settings."""
    X, y = _reference_data()
    grid = {"learning_rate": list(np.linspace(1e-3, 1e-2, max(n_fits // 20, 1))),
            "threshold": [0.4, 0.5]}
    warm = GridSearchCV(MultiLabelMLPClassifier(epochs=2), {"threshold": [0.5]}, cv=5)
    warm.fit(X, y)
    before = _rss_mb()
    search = GridSearchCV(MultiLabelMLPClassifier(epochs=2), grid, cv=5).fit(X, y)
    n = len(search.cv_results_["params"]) * 5 + 1
    return (_rss_mb() - before) / n, n


def jax_worker(quick):
    """Run in a subprocess with KERAS_BACKEND=jax; prints one JSON line."""
    X, y = _reference_data()
    cv = RepeatedKFold(n_splits=10, n_repeats=1 if quick else 3, random_state=1)
    per_fit, scores = _cv_per_fit(MultiLabelMLPClassifier(), X, y, cv)
    steady, _ = _cv_per_fit(MultiLabelMLPClassifier(), X, y, cv)  # compiled already
    rss, n = _grid_rss(40 if quick else 200)
    print(json.dumps({"per_fit": per_fit, "steady_per_fit": steady, "acc": scores.mean(),
                      "acc_std": scores.std(), "rss_per_fit": rss, "rss_fits": n}))


def benchmark(quick=False, out="benchmarks/results"):
    rows, lines = [], []

    def record(name, value, unit, baseline, target, ok):
        rows.append({"measure": name, "value": float(value), "unit": unit,
                     "baseline": baseline, "target": target, "met": ok})
        lines.append(f"| {name} | {value:.3g} {unit} | {baseline} | {target} | "
                     f"{'yes' if ok else 'NO'} |")

    X, y = _reference_data()
    repeats = 1 if quick else 3
    cv = RepeatedKFold(n_splits=10, n_repeats=repeats, random_state=1)
    ours, ours_scores = _cv_per_fit(MultiLabelMLPClassifier(), X, y, cv)
    mlp, mlp_scores = _cv_per_fit(MLPClassifier((20,), batch_size=32, max_iter=100), X, y, cv)
    n_plain = 2 if quick else 10
    plain_times, plain_scores = [], []
    for train, test in list(cv.split(X, y))[:n_plain]:
        start = time.perf_counter()
        fitted = reference_loop(X[train], y[train])
        plain_times.append(time.perf_counter() - start)
        plain_scores.append(evaluate(fitted, X[test], y[test])["subset_accuracy"])
    plain = float(np.mean(plain_times))
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    worker = subprocess.run([sys.executable, "-m", "benchmarks.bench_speed", "--jax-worker",
                             *(["--quick"] if quick else [])], env=env, capture_output=True,
                            text=True, check=True)
    jax = json.loads(worker.stdout.strip().splitlines()[-1])

    lines.append(f"reference protocol, {len(ours_scores)} folds: subset accuracy "
                 f"MultiLabelMLPClassifier (TF) {ours_scores.mean():.3f} ± {ours_scores.std():.3f}, "
                 f"(JAX) {jax['acc']:.3f} ± {jax['acc_std']:.3f}, MLPClassifier "
                 f"{mlp_scores.mean():.3f} ± {mlp_scores.std():.3f}, plain Keras "
                 f"{np.mean(plain_scores):.3f} ({n_plain} folds)\n")
    lines.append("| measure | value | baseline (same run) | target | met |")
    lines.append("|---|---|---|---|---|")
    record("TF fit, cross_val_score", ours, "s/fit", f"plain Keras {plain:.2f}",
           f">= 20x: {plain / ours:.1f}x", plain / ours >= 20)
    record("TF fit vs MLPClassifier", ours, "s/fit", f"MLPClassifier {mlp:.3f}",
           f"faster: {mlp / ours:.2f}x", ours < mlp)
    same_acc = abs(ours_scores.mean() - np.mean(plain_scores)) <= ours_scores.std()
    record("TF accuracy vs plain Keras", ours_scores.mean(), "",
           f"{np.mean(plain_scores):.3f}", "within 1 std", same_acc)
    record("JAX fit, cross_val_score incl. compile", jax['per_fit'], "s/fit",
           f"plain Keras (TF) {plain:.2f}", f">= 100x: {plain / jax['per_fit']:.0f}x",
           plain / jax["per_fit"] >= 100)
    record("JAX fit, already compiled", jax['steady_per_fit'], "s/fit",
           f"plain Keras (TF) {plain:.2f}", f">= 100x: {plain / jax['steady_per_fit']:.0f}x",
           plain / jax["steady_per_fit"] >= 100)

    data = load_abalone()
    ya = np.column_stack([data.target.astype(float), data.target])
    epochs = 20 if quick else 150
    times = {}
    for name, weights in (("joint", (1, 1)), ("regression", (1, 0)), ("classification", (0, 1))):
        JointRegressorClassifier(epochs=1, loss_weights=weights).fit(data.data, ya)  # warm
        start = time.perf_counter()
        JointRegressorClassifier(epochs=epochs, loss_weights=weights,
                                 random_state=0).fit(data.data, ya)
        times[name] = time.perf_counter() - start
    ratio = times["joint"] / (times["regression"] + times["classification"])
    record("joint abalone fit / two separate fits", times['joint'], "s",
           f"{times['regression'] + times['classification']:.2f} s", f"<= 0.6: {ratio:.2f}",
           ratio <= 0.6)

    clf = MultiLabelMLPClassifier(epochs=5, random_state=0).fit(X, y)

    def median_ms(call, repeats):
        call()
        ts = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            ts.append(time.perf_counter() - start)
        return 1000 * float(np.median(ts))

    for n, target in ((1, 1.0), (1000, 2.0)):
        rows_X = X[:n]
        keras_ms = median_ms(lambda: clf.model_.predict(rows_X.astype(np.float32), verbose=0),
                             20)
        for method in ("predict", "predict_proba"):
            ms = median_ms(lambda: getattr(clf, method)(rows_X), 200)
            record(f"{method}, {n} rows, median", ms, "ms",
                   f"Keras model.predict {keras_ms:.1f} ms", f"< {target} ms", ms < target)

    rss, n_fits = _grid_rss(40 if quick else 200)
    record(f"RSS growth per fit, TF, {n_fits} fits", rss, "MB", "", "< 0.5 MB", rss < 0.5)
    record(f"RSS growth per fit, JAX, {jax['rss_fits']} fits", jax['rss_per_fit'], "MB",
           "", "< 0.5 MB", jax["rss_per_fit"] < 0.5)

    grid = {"hidden_layer_sizes": [(10,), (20,)], "learning_rate": [1e-3, 3e-3, 1e-2, 3e-2]}
    gs_times = {}
    for n_jobs in (1, 2):  # n_jobs=2 pays for starting 2 workers (TensorFlow import)
        start = time.perf_counter()
        GridSearchCV(MultiLabelMLPClassifier(epochs=30 if quick else 100, random_state=0), grid,
                     cv=5, n_jobs=n_jobs).fit(X, y)
        gs_times[n_jobs] = time.perf_counter() - start
    record("GridSearchCV n_jobs=2 (40 fits)", gs_times[2], "s", f"n_jobs=1 {gs_times[1]:.1f}",
           f"not slower: {gs_times[1] / gs_times[2]:.2f}x", gs_times[2] <= gs_times[1] * 1.05)

    lines.append("\nfit seconds per epoch (TF, this machine's CPU; 10 features, 3 labels, "
                 "batch 32, after a warm-up fit):\n")
    lines.append("| rows | s/epoch |")
    lines.append("|---|---|")
    sizes = (1_000, 10_000, 100_000) if quick else (1_000, 10_000, 100_000, 1_000_000)
    rng = np.random.RandomState(0)
    for n in sizes:
        Xn = rng.normal(size=(n, 10)).astype(np.float32)
        yn = (Xn[:, :3] > 0).astype(int)
        MultiLabelMLPClassifier(epochs=1).fit(Xn[:2000], yn[:2000])
        ep = 1 if n >= 100_000 else 5
        start = time.perf_counter()
        MultiLabelMLPClassifier(epochs=ep, random_state=0).fit(Xn, yn)
        per_epoch = (time.perf_counter() - start) / ep
        rows.append({"measure": f"s/epoch {n} rows", "value": per_epoch})
        lines.append(f"| {n:,} | {per_epoch:.3f} |")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "speed.csv", index=False)
    text = "\n".join(lines)
    (out / "speed.md").write_text(text + "\n")
    return rows, text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jax-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    if args.jax_worker:
        jax_worker(args.quick)
    else:
        print(benchmark(args.quick, args.out)[1])


if __name__ == "__main__":
    main()
