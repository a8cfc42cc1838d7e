"""Test configuration: the data home points at ../shared/data (no downloads)."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# One compute thread per test process: ``pytest -n 2`` runs two workers on two
# cores, and OpenMP (scikit-learn's HistGradientBoosting, a benchmark
# contender), TensorFlow and XLA would otherwise each start a thread per core
# and fight over them (5x slower). The package turns OMP_NUM_THREADS into
# TensorFlow's and XLA's own settings (mtestimator.engine.threads).
os.environ.setdefault("OMP_NUM_THREADS", "1")
_SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"
if "MTESTIMATOR_DATA_HOME" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["MTESTIMATOR_DATA_HOME"] = str(_SHARED_DATA)
elif "MTESTIMATOR_DATA_HOME" in os.environ:
    # tests may change directory: pin a relative data home to where pytest started
    os.environ["MTESTIMATOR_DATA_HOME"] = str(Path(os.environ["MTESTIMATOR_DATA_HOME"]).resolve())


# -- spreading the suite over pytest-xdist workers (``-n 2 --dist loadgroup``) ------------
#
# Each test module runs on one worker (its module-scoped fitted fixtures and
# cached fits are built once, and the compiled trainers cached by architecture
# are reused), except the modules whose tests are independent and long: the
# benchmark sections, the documentation pages, and scikit-learn's estimator
# checks (one group per estimator: its compiled shapes are shared). The
# longest groups are queued first (run with --no-loadscope-reorder), so that
# no long test starts last.

#: Modules whose tests are independent units of work (no group).
_UNGROUPED = ("tests/test_benchmarks.py", "tests/test_docs.py", "tests/test_dask.py")
#: Queued first, in this order: the longest tests and groups (measured on 2 cores).
_FIRST = ("tests/test_benchmarks.py", "tests/test_common.py", "tests/test_dask.py",
          "tests/test_docs.py", "tests/test_reliability.py")


def _group(item):
    path = item.nodeid.split("::")[0]
    if path == "tests/test_dask.py" or item.nodeid.endswith("[guide/dask.md]"):
        return "dask"  # each starts a local cluster: one after the other, not fighting
    if path in _UNGROUPED:
        return None
    if path == "tests/test_common.py":
        return f"common-{item.module._key(item.callspec.params['estimator'])}"
    return path


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    for item in items:
        group = _group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))

    def rank(item):
        path = item.nodeid.split("::")[0]
        return _FIRST.index(path) if path in _FIRST else len(_FIRST)

    items.sort(key=rank)  # stable: within a rank, collection order


# -- XLA for the engine's tests only -------------------------------------------------------
#
# On TensorFlow the engine compiles its training with XLA, once per
# architecture and data shape (seconds each). What does not differ by backend
# (the scikit-learn API, validation, targets, the documentation's examples)
# runs in TensorFlow's graph executor (MTESTIMATOR_TF_XLA=0, the same
# training function without XLA; no effect on JAX): the tests marked
# ``backend``, which the JAX run runs too, train as users do, XLA included
# (that both executors train alike is test_training.py's). The benchmark
# smoke run keeps the defaults. A backend test that follows other tests
# starts from an empty trainer cache, so that it never reuses a trainer
# compiled without XLA.

_PREVIOUS = {"xla": True}


@pytest.fixture(autouse=True)
def _xla_for_backend_tests_only(request, monkeypatch):
    xla = (request.node.get_closest_marker("backend") is not None
           or request.node.nodeid.startswith("tests/test_benchmarks.py"))
    if not xla:
        monkeypatch.setenv("MTESTIMATOR_TF_XLA", "0")
    elif not _PREVIOUS["xla"]:
        from mtestimator import clear_cache

        clear_cache()
    _PREVIOUS["xla"] = xla
