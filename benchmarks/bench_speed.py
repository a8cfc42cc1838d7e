"""Speed and feedback where users feel them (issue 13), on both Keras backends.

``python -m benchmarks.bench_speed [--quick | --smoke] [--only ROW ...] [--backend NAME]``.
Every measurement runs in a fresh worker process
(:mod:`benchmarks._speed_worker`; the tasks are in
:mod:`benchmarks._speed_tasks`), on TensorFlow and on JAX
(``KERAS_BACKEND=jax``), and every ratio is against a baseline measured in
the same run. The rows (``--only`` names) and issue 13's targets:

reference  The reference multi-label protocol, ``cross_val_score(
           MultiLabelMLPClassifier(), X, y, cv=RepeatedKFold(10, 3))``, in a
           fresh process timed from its start (interpreter, imports and first
           compile included) to the scores, per fit, vs REFERENCE.md's plain
           Keras ``model.fit`` loop per fit (TensorFlow, the same splits):
           >= 20x on TensorFlow, >= 60x on JAX. Also: warm (the protocol
           again in that process); on JAX a second fresh process reading the
           persistent compilation cache the first one wrote (every JAX worker
           of a run shares one empty temporary MTESTIMATOR_JAX_CACHE_DIR, the
           first reference process first); subset accuracy vs plain Keras;
           warm fit time vs scikit-learn's MLPClassifier. The data set is
           generated once, before any worker starts (it takes seconds), and
           loaded from a file by the workers: no time includes generating it.
import     ``import mtestimator`` under JAX beyond ``import keras,
           sklearn.base``, both timed in one fresh process: <= 0.7 s. And a
           bare ``import mtestimator`` (each backend) loads no TensorFlow,
           JAX or scikeras.
grid       GridSearchCV, 8 candidates x 5 folds, n_jobs=2 vs n_jobs=1:
           >= 1.5x. The first searches count the joblib workers' start-up
           (their imports and compiles) in n_jobs=2's time, as a user feels
           it: n_jobs=2 runs first, in a process that has imported the backend
           but compiled nothing of the grid; n_jobs=1 runs next, compiling the
           grid in-process (``refit=False``, so the n_jobs=2 search fits
           nothing in it). The second searches reuse the warm workers.
random     RandomizedSearchCV, 12 candidates x 3 folds, varying dropout and
           batch_size (and the learning rate) vs varying the learning rate
           only, after a cross-validation of the fixed settings:
           <= 1.5x + 2 s.
memory     RSS growth over 160 fits cycling through 20 architectures, from
           after one warm-up fit: <= 100 MB; and what is left after
           ``clear_cache()``.
callbacks  A 100-epoch fit with ``EarlyStopping(monitor="loss", patience=5)``
           and ``History()`` vs no callback, each on its second fit (compile
           excluded), per epoch run: <= 2x.
verbose    What a default fit prints at verbose=1 (stdout and stderr):
           per-epoch progress with losses (the epochs shown are counted);
           verbose=2 alongside (Keras-style "Epoch k/N" lines).
interrupt  Ctrl-C: SIGINT 1.5 s after a long default fit starts (100k rows)
           until the worker reports the KeyboardInterrupt: <= 2 s, and the
           estimator left unfitted.
predict    1M-row ``predict_regression`` of JointRegressorClassifier vs
           ``MLPRegressor.predict`` with the same layers: <= 1.2x; predict
           and predict_proba latency on 1 and 1,000 rows vs Keras
           ``model.predict``.
joint      The joint two-head fit on abalone (MultiTaskEstimator) vs
           SeparateNetworks with the same heads, trunk, epochs and seed,
           each on its second fit: <= 0.6x.
epochs     Fit seconds per epoch at 1k, 10k, 100k and 1M rows (no target).
big        Only with ``--big`` (or ``--only big``; minutes at full size): issue
           23's network ((64, 32) MLP, a regression and a binary head, batch
           256, Adam, 20 features), fit seconds per epoch at 200k and 1M rows
           vs scikit-learn's ``MLPRegressor`` (one thread, same layers, two
           outputs) and vs plain Keras ``model.fit`` on the same network:
           <= 0.5x each (medians of 3 alternating fits; 20k rows with
           --quick, 5k with --smoke); and the peak RSS of a 1M x 20 fit above
           an idle process (imported, data made, two small fits), each in a
           fresh process: <= 3x X's float32 size.

``--quick`` (the test suite) runs every row, smaller and in three workers
instead of twelve (each start costs a backend import): one per backend
running every task in turn (its cold reference time still counted from the
worker's start) and JAX's second reference worker; 10 reference folds, one
plain Keras fit, 10 (grid) and 5 (random) epochs per search fit, 12 fits over
4 architectures, 20 epochs with callbacks, 200k prediction rows, 1k and 10k
rows per epoch. Its numbers show that every
row runs, not where the targets stand. ``--smoke`` (the test suite) is
``--quick`` at the smallest sizes that still run every row's code: 2
reference folds, 1 epoch per search fit and 2-fold grid searches (n_jobs=2 in
threads: no worker processes), 4 random
candidates, 4 memory fits over 2 architectures, 3,000 verbose rows, 20k
prediction rows, 2 joint epochs, 1k rows per epoch. A worker that fails or passes its time
limit turns its rows into "failed" rows with the error; the rest still runs.
Writes ``speed.md`` and ``speed.csv`` to ``--out``.
"""

import argparse
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._speed_tasks import DATA_ENV, write_reference_data
from ._speed_worker import run

BACKENDS = ("tensorflow", "jax")
SHORT = {"tensorflow": "TF", "jax": "JAX"}

#: Fresh worker processes per backend, in the order they run, with the tasks
#: each may run. "cached" (JAX only) repeats "cold" once a compilation cache
#: exists. Every worker first reports "import_alone" (unless it starts with
#: "import"); "alone" is a worker for that only.
PROCESSES = (
    ("cold", ("reference",)),
    ("cached", ("reference",)),
    ("alone", ("import_alone",)),
    ("import", ("import",)),
    ("feedback", ("verbose", "interrupt")),
    ("memory", ("memory",)),
    ("warm", ("grid", "plain", "random", "callbacks", "latency", "predict_regression",
              "joint", "epochs")),
    ("big", ("big", "big_memory")),
)
#: --quick: as few workers as the measures allow (each start imports a
#: backend). "import" must be first in its worker, "interrupt" last (the
#: worker may be killed). Cold time is still from the worker's start.
QUICK_PROCESSES = (
    ("cold", ("import", "import_alone", "reference", "verbose", "plain", "grid", "random",
              "callbacks", "latency", "predict_regression", "joint", "epochs", "memory",
              "interrupt")),
    ("cached", ("import_alone", "reference")),
    ("big", ("big", "big_memory")),
)
#: The worker tasks of each row.
ROW_TASKS = {
    "reference": ("reference", "plain"), "import": ("import_alone", "import"),
    "grid": ("grid",), "random": ("random",), "memory": ("memory",),
    "callbacks": ("callbacks",), "verbose": ("verbose",), "interrupt": ("interrupt",),
    "predict": ("predict_regression", "latency"), "joint": ("joint",), "epochs": ("epochs",),
    "big": ("big", "big_memory"),
}
#: Rows run only when asked for (``--big``, ``--only``): minutes at full size.
ON_REQUEST = ("big",)
ROWS = tuple(row for row in ROW_TASKS if row not in ON_REQUEST)
#: Tasks that run on one backend only.
TASK_BACKENDS = {"plain": ("tensorflow",), "import": ("jax",)}

TIMEOUT = {True: 900, False: 3600}  # seconds per worker process (quick, full)
SIGINT_AFTER = ("fit_start", 1.5)  # the interrupt row's signal: mark, seconds after it
GRACE = {True: 10, False: 30}  # seconds an interrupted worker may run on before it is killed
REFERENCE_GOAL = {"tensorflow": 20, "jax": 60}  # x faster than plain Keras


# -- running the workers -----------------------------------------------------------------


def plan(rows, backend, quick):
    """The worker processes for ``rows`` on ``backend``: [(label, tasks)]."""
    wanted = {task for row in rows for task in ROW_TASKS[row]
              if backend in TASK_BACKENDS.get(task, BACKENDS)}
    return [(label, [t for t in tasks if t in wanted])
            for label, tasks in (QUICK_PROCESSES if quick else PROCESSES)
            if wanted.intersection(tasks) and (label != "cached" or backend == "jax")]


class Results(dict):
    """The worker runs of one benchmark, by (backend, process label), in the
    order they ran; ``cache_written``: whether the JAX workers before the
    "cached" one wrote a persistent compilation cache."""

    cache_written = False

    def run(self, backend, task):
        """The first worker on ``backend`` that was to report ``task``."""
        for (b, _), worker in self.items():
            if b == backend and task in worker.tasks:
                return worker
        raise RuntimeError(f"{task}: not run on {backend}")

    def get(self, backend, task):
        """The result of ``task`` on ``backend``; raises RuntimeError if it failed."""
        return self.run(backend, task).result(task)


def measure(rows, backends, quick):
    """Start every worker process the rows need, one at a time."""
    results = Results()
    with tempfile.TemporaryDirectory(prefix="mtestimator-speed-") as tmp:
        data, cache = os.path.join(tmp, "reference.npz"), os.path.join(tmp, "jax-cache")
        os.mkdir(cache)
        write_reference_data(data)
        for backend in backends:
            env = {DATA_ENV: data, **({"MTESTIMATOR_JAX_CACHE_DIR": cache}
                                      if backend == "jax" else {})}
            for label, tasks in plan(rows, backend, quick):
                if label == "cached":
                    results.cache_written = bool(os.listdir(cache))
                    if not results.cache_written:  # nothing to read: not worth a worker
                        tasks = [t for t in tasks if t != "reference"]
                if not tasks:
                    continue
                interrupt = (*SIGINT_AFTER, GRACE[bool(quick)]) if "interrupt" in tasks \
                    else None
                start = time.perf_counter()
                results[backend, label] = done = run(tasks, backend, quick=quick,
                                                     timeout=TIMEOUT[bool(quick)], env=env,
                                                     interrupt=interrupt)
                took = ", ".join(f"{t} {s:.0f} s" for t, s in done.seconds.items())
                print(f"speed: {backend} {label} worker: {time.perf_counter() - start:.0f} s "
                      f"({took})" + (f"; {done.error}" if done.error else ""),
                      file=sys.stderr, flush=True)
                for task, result in done.results.items():
                    if "traceback" in result:
                        print(f"speed: {backend} {task} failed:\n{result['traceback']}",
                              file=sys.stderr, flush=True)
    return results


# -- rows ----------------------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    value: float
    unit: str = ""
    baseline: str = ""
    target: str = ""
    met: object = None  # True, False, or None: no target
    detail: str = ""
    error: str = ""
    backend: str = ""
    row: str = ""  # the --only name
    section: str = "targets"


def _count(items, noun):
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"


def fmt(value, unit):
    return f"{value:.3g}x" if unit == "x" else f"{value:.3g} {unit}".strip()


def check(measure, value, unit, baseline, op, limit, detail="", target=None):
    """A row whose value must be ``op`` (">=" or "<=") ``limit``."""
    met = value >= limit if op == ">=" else value <= limit
    return Row(measure, float(value), unit, baseline, target or f"{op} {fmt(limit, unit)}",
               bool(met), detail)


def _vs_plain(measure, per_fit, res, backend, detail=""):
    plain = res.get("tensorflow", "plain")
    base, fits = plain["plain_per_fit"], _count(plain["plain_scores"], "fit")
    return check(measure, base / per_fit, "x",
                 f"plain Keras (TF) model.fit {base:.2f} s/fit ({fits})", ">=",
                 REFERENCE_GOAL[backend],
                 detail=f"{per_fit:.3g} s/fit" + (f"; {detail}" if detail else ""))


def reference_cold(res, backend, quick):
    """reference protocol, fresh process incl. import + compile"""
    worker = res.run(backend, "reference")
    ref = worker.result("reference")
    per_fit = worker.marks["cv_done"] / ref["n_fits"]
    loaded = (f"TensorFlow imported: {'yes' if ref['tensorflow_loaded'] else 'no'}"
              if backend == "jax" else "")
    yield _vs_plain(f"reference protocol, fresh process incl. import + compile, "
                    f"{ref['n_fits']} fits", per_fit, res, backend, loaded)


def reference_warm(res, backend, quick):
    """reference protocol, warm"""
    ref = res.get(backend, "reference")
    yield _vs_plain("reference protocol, warm (again in that process)", ref["warm_per_fit"],
                    res, backend)


def reference_cached(res, backend, quick):
    """reference protocol, second fresh process, compilation cache warm"""
    if backend != "jax":
        return
    if not res.cache_written:
        raise RuntimeError("no persistent compilation cache: the JAX workers before left "
                           "MTESTIMATOR_JAX_CACHE_DIR empty")
    if (backend, "cached") not in res:
        raise RuntimeError("the second JAX worker did not run")
    worker = res[backend, "cached"]
    n = worker.result("reference")["n_fits"]
    yield _vs_plain(f"reference protocol, second fresh process (compilation cache warm), "
                    f"{n} fits", worker.marks["cv_done"] / n, res, backend)


def reference_accuracy(res, backend, quick):
    """reference protocol, subset accuracy vs plain Keras"""
    scores = res.get(backend, "reference")["scores"]
    plain = res.get("tensorflow", "plain")["plain_scores"]
    ours, theirs = np.mean(scores[:len(plain)]), np.mean(plain)  # the folds plain Keras ran
    yield Row("reference protocol, subset accuracy", np.mean(scores), "",
              f"plain Keras {theirs:.3f} on its {_count(plain, 'fold')}",
              "within 1 std on those folds",
              bool(abs(ours - theirs) <= np.std(scores)),
              f"± {np.std(scores):.3f}; {ours:.3f} on plain Keras's folds")


def reference_vs_mlp(res, backend, quick):
    """reference protocol, warm fit vs MLPClassifier"""
    ours, mlp = res.get(backend, "reference")["warm_per_fit"], res.get("tensorflow", "plain")
    yield check("reference protocol, warm fit vs MLPClassifier", mlp["mlp_per_fit"] / ours, "x",
                f"MLPClassifier {mlp['mlp_per_fit']:.3f} s/fit (accuracy "
                f"{mlp['mlp_accuracy']:.3f})", ">=", 1, detail=f"{ours:.3g} s/fit")


def import_beyond(res, backend, quick):
    """import mtestimator beyond import keras, sklearn.base"""
    if backend != "jax":
        return
    r = res.get(backend, "import")
    yield check("import mtestimator beyond import keras, sklearn.base", r["extra_s"], "s",
                f"import keras, sklearn.base {r['base_s']:.2f} s", "<=", 0.7)


def import_alone(res, backend, quick):
    """bare import mtestimator"""
    r = res.get(backend, "import_alone")
    heavy = [m for m in r["loaded"] if m != "keras"]
    yield Row("bare import mtestimator", r["seconds"], "s", "-", "loads no tensorflow, jax, "
              "scikeras", not heavy, f"loaded: {', '.join(r['loaded']) or 'none of them'}")


def grid(res, backend, quick):
    """GridSearchCV 40 fits, n_jobs=2 vs n_jobs=1"""
    g = res.get(backend, "grid")
    for label, what in (("cold", "first searches, worker start-up included"),
                        ("warm", "second searches, workers up")):
        one, two = g[f"{label}_1"], g[f"{label}_2"]
        yield check(f"GridSearchCV 40 fits, n_jobs=2 vs 1, {what}", one / two, "x",
                    f"n_jobs=1 {one:.1f} s", ">=", 1.5, detail=f"n_jobs=2 {two:.1f} s")


def random_search(res, backend, quick):
    """random search varying dropout + batch_size vs fixed"""
    r = res.get(backend, "random")
    limit = 1.5 * r["fixed"] + 2
    yield check("random search 12 x 3, varying dropout + batch_size vs fixed", r["varying"], "s",
                f"fixed {r['fixed']:.1f} s", "<=", limit,
                detail=f"{r['varying'] / r['fixed']:.2f}x", target=f"<= 1.5x + 2 s = {limit:.1f} s")


def memory(res, backend, quick):
    """RSS growth over fits cycling through architectures"""
    m = res.get(backend, "memory")
    yield check(f"RSS growth over {m['fits']} fits, {m['architectures']} architectures",
                m["growth_mb"], "MB", f"RSS after one warm-up fit {m['before_mb']:.0f} MB",
                "<=", 100)
    yield check(f"RSS growth left after {m['clear']}()", m["after_clear_mb"], "MB",
                f"growth before it {m['growth_mb']:.0f} MB", "<=", 100)


def callbacks(res, backend, quick):
    """fit with EarlyStopping + History vs none"""
    c = res.get(backend, "callbacks")
    ratio = (c["callbacks_s"] / c["callbacks_epochs"]) / (c["none_s"] / c["none_epochs"])
    yield check("fit with EarlyStopping + History vs none, warm, per epoch (medians of 5)",
                ratio, "x",
                f"no callback {c['none_s']:.2f} s / {c['none_epochs']} epochs", "<=", 2,
                detail=f"{c['callbacks_s']:.2f} s / {c['callbacks_epochs']} epochs")


def progress_shown(lines, epochs):
    """What fit output shows: the number of distinct epochs in ``k/epochs``
    counters, of Keras-style ``Epoch k/epochs`` lines, and the last line with
    a loss value (from its epoch counter on), or None."""
    counter, loss = re.compile(rf"\b(\d+)/{epochs}\b"), re.compile(r"loss\s*[=:]\s*[-+]?\d")
    text = "\n".join(lines)
    shown = {int(k) for k in counter.findall(text) if 1 <= int(k) <= epochs}
    keras_lines = len(re.findall(rf"^Epoch \d+/{epochs}\b", text, flags=re.MULTILINE))
    last = next((line for line in reversed(lines) if loss.search(line)), None)
    if last is not None:
        found = list(counter.finditer(last))
        last = " ".join(last[found[-1].start() if found else 0:].split())
    return len(shown), keras_lines, last


def verbose(res, backend, quick):
    """output at verbose=1 and verbose=2"""
    worker = res.run(backend, "verbose")
    epochs = worker.result("verbose")["epochs"]
    for level, target in ((1, "per-epoch progress with losses"), (2, "Keras-style epoch lines")):
        lines = worker.output(f"verbose{level}_start", f"verbose{level}_end")
        shown, keras_lines, last = progress_shown(lines, epochs)
        yield Row(f"output at verbose={level}, default path", shown, f"of {epochs} epochs shown",
                  f"{epochs} epochs run", target,
                  (shown if level == 1 else keras_lines) >= 2 and last is not None,
                  f"{keras_lines} 'Epoch k/N' lines; last with a loss: "
                  + (f"'{last[:80]}'" if last else f"none ({len(lines)} lines printed)"))


def interrupt(res, backend, quick):
    """Ctrl-C latency, SIGINT 1.5 s into a long fit"""
    worker = res.run(backend, "interrupt")
    result = worker.results.get("interrupt", {})
    if worker.signal_sent is None or result.get("interrupted") is False:
        raise RuntimeError(result.get("error") or worker.error or "the fit ended before SIGINT")
    if "interrupted" in worker.marks:
        latency = worker.marks["interrupted"] - worker.signal_sent
        unfitted = not worker.result("interrupt")["fitted_after"]
        detail = f"estimator unfitted after: {'yes' if unfitted else 'NO'}"
    else:
        latency, unfitted = GRACE[bool(quick)], False
        detail = f"no KeyboardInterrupt within {GRACE[bool(quick)]} s: worker killed"
    yield Row(f"Ctrl-C latency, SIGINT {SIGINT_AFTER[1]} s into a long fit", latency, "s",
              f"SIGINT {SIGINT_AFTER[1]} s after the fit started", "<= 2 s, left unfitted",
              latency <= 2 and unfitted, detail)


def predict_regression(res, backend, quick):
    """predict_regression vs MLPRegressor.predict"""
    p = res.get(backend, "predict_regression")
    yield check(f"predict_regression, {p['rows']:,} rows, vs MLPRegressor.predict",
                p["ours_s"] / p["mlp_s"], "x", f"MLPRegressor.predict {p['mlp_s']:.3f} s", "<=",
                1.2, detail=f"{p['ours_s']:.3f} s")


def latency(res, backend, quick):
    """predict and predict_proba latency, 1 and 1,000 rows"""
    lat = res.get(backend, "latency")
    for n, limit in ((1, 1.0), (1000, 2.0)):
        for method in ("predict", "predict_proba"):
            yield check(f"{method}, {n:,} rows, median", lat[f"{method}_{n}"], "ms",
                        f"Keras model.predict {lat[f'keras_{n}']:.1f} ms", "<=", limit)


def joint(res, backend, quick):
    """joint abalone fit vs SeparateNetworks"""
    j = res.get(backend, "joint")
    yield check(f"joint abalone fit vs SeparateNetworks, {j['epochs']} epochs, warm",
                j["joint_s"] / j["separate_s"], "x", f"SeparateNetworks {j['separate_s']:.2f} s",
                "<=", 0.6, detail=f"joint {j['joint_s']:.2f} s")


def epochs(res, backend, quick):
    """fit seconds per epoch"""
    for n, seconds in res.get(backend, "epochs").items():
        yield Row(f"{int(n):,} rows", seconds, "s/epoch", section="epochs")


def big(res, backend, quick):
    """big data: seconds per epoch vs MLPRegressor and plain Keras, peak RSS"""
    for n, t in res.get(backend, "big").items():
        for name, what in (("mlp", "MLPRegressor (one thread)"), ("keras", "plain Keras fit")):
            yield check(f"{int(n):,} rows, s/epoch vs {what}", t["ours"] / t[name], "x",
                        f"{what} {t[name]:.3g} s/epoch", "<=", 0.5,
                        detail=f"{t['ours']:.3g} s/epoch")
    m = res.get(backend, "big_memory")
    yield check(f"peak RSS of a {m['rows']:,} x 20 fit above an idle process",
                m["above_mb"] / m["x_mb"], "x", f"X in float32 {m['x_mb']:.0f} MB", "<=", 3,
                detail=f"{m['above_mb']:.0f} MB")


#: The report functions of each row; a function's docstring names its rows when it fails.
REPORTS = {
    "reference": (reference_cold, reference_warm, reference_cached, reference_accuracy,
                  reference_vs_mlp),
    "import": (import_beyond, import_alone), "grid": (grid,), "random": (random_search,),
    "memory": (memory,), "callbacks": (callbacks,), "verbose": (verbose,),
    "interrupt": (interrupt,), "predict": (predict_regression, latency), "joint": (joint,),
    "epochs": (epochs,), "big": (big,),
}


def report(results, rows, backends, quick):
    """Every row, in the order of ``ROWS`` then backends; a failing report
    function leaves one failed row with its error."""
    table = []
    for name in ROW_TASKS:
        if name not in rows:
            continue
        for backend in backends:
            for function in REPORTS[name]:
                produced = []
                try:
                    produced.extend(function(results, backend, quick))
                except Exception as exc:  # one row failed: say why, go on
                    produced.append(Row(function.__doc__, math.nan, error=str(exc),
                                        section="epochs" if name == "epochs" else "targets"))
                for row in produced:
                    row.backend, row.row = backend, name
                table.extend(produced)
    return table


# -- output ------------------------------------------------------------------------------


def _met(row):
    if row.error:
        return "failed: " + row.error.replace("|", "/")[:200]
    return {True: "yes", False: "NO", None: "-"}[row.met]


def markdown(table, quick):
    size = {"smoke": "--smoke: smallest sizes", True: "--quick: smaller sizes"}.get(quick,
                                                                                  "full run")
    lines = [f"speed and feedback ({size}); "
             "every measure in a fresh worker process per backend, baselines from the same "
             "run\n",
             "| measure | backend | value | baseline (same run) | target | met |",
             "|---|---|---|---|---|---|"]
    for row in table:
        if row.section != "targets":
            continue
        value = "" if row.error else fmt(row.value, row.unit)
        if row.detail and not row.error:
            value += f" ({row.detail.replace('|', '/')})"
        lines.append(f"| {row.measure} | {SHORT[row.backend]} | {value} | {row.baseline} | "
                     f"{row.target} | {_met(row)} |")
    per_epoch = [row for row in table if row.section == "epochs"]
    if per_epoch:
        lines += ["\nfit seconds per epoch (MultiLabelMLPClassifier, 10 features, 3 labels, "
                  "batch 32, second fit):\n", "| rows | backend | s/epoch |", "|---|---|---|"]
        lines += [f"| {row.measure} | {SHORT[row.backend]} | "
                  f"{_met(row) if row.error else f'{row.value:.3f}'} |" for row in per_epoch]
    return "\n".join(lines)


def benchmark(quick=False, out="benchmarks/results", only=None, backends=BACKENDS):
    """Run the rows in ``only`` (all by default); write speed.md and speed.csv.
    ``quick``: False (full run), True (--quick) or "smoke" (--smoke).

    Returns the rows (dicts) and the Markdown text.
    """
    rows = tuple(only or ROWS)
    results = measure(rows, backends, quick)
    table = report(results, rows, backends, quick)
    text = markdown(table, quick)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = [{**asdict(row), "met": _met(row)} for row in table]
    pd.DataFrame(records).to_csv(out / "speed.csv", index=False)
    (out / "speed.md").write_text(text + "\n")
    return records, text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every row, smaller sizes")
    parser.add_argument("--smoke", action="store_true",
                        help="every row at the smallest sizes (the test suite)")
    parser.add_argument("--only", choices=tuple(ROW_TASKS), action="append",
                        help="run only these rows")
    parser.add_argument("--big", action="store_true",
                        help="also the big-data rows (200k and 1M rows; minutes)")
    parser.add_argument("--backend", choices=BACKENDS, action="append",
                        help="only these backends (the JAX reference rows need TensorFlow's "
                             "plain Keras baseline)")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    quick = "smoke" if args.smoke else args.quick
    only = args.only or ((*ROWS, *ON_REQUEST) if args.big else None)
    print(benchmark(quick, args.out, only, tuple(args.backend or BACKENDS))[1])


if __name__ == "__main__":
    main()
