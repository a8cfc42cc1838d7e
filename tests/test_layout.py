"""The package's shape: module sizes, docstrings, no import cycle, a short way from fit to the engine."""

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import mtestimator
from mtestimator import MultiTaskEstimator, clear_cache
from mtestimator.engine import training
from mtestimator.heads import ClassificationHead, RegressionHead
from mtestimator.trunks import MLPTrunk

PACKAGE = Path(mtestimator.__file__).resolve().parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 450


def _name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {_name(p): p for p in MODULES}


def _is_package(name):
    return NAMES[name].name == "__init__.py"


def _imports(name):
    """The mtestimator modules ``name`` imports, anywhere in its code (functions too)."""
    tree = ast.parse(NAMES[name].read_text())
    package = name if _is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in NAMES and t != name}
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _name(p))
def test_each_module_is_small_and_says_what_it_owns(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_LINES, f"{_name(path)} has {lines} lines; at most {MAX_LINES}"
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and doc.splitlines()[0].strip(), f"{_name(path)} has no docstring"


def test_no_import_cycle_counting_imports_inside_functions():
    graph = {name: _imports(name) for name in NAMES}
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_engine_knows_nothing_of_the_estimators_or_scikit_learn():
    for name, path in NAMES.items():
        if not name.startswith("mtestimator.engine"):
            continue
        assert all(m.startswith("mtestimator.engine") for m in _imports(name)), name
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) \
                    else [node.module or ""]
                assert not any(m.split(".")[0] == "sklearn" for m in modules), name


@pytest.mark.backend
def test_fit_reaches_the_compiled_training_in_five_frames_of_four_modules(monkeypatch):
    """From ``fit`` to the call of the compiled training function, at most 5
    of our frames in at most 4 modules; the engine's entry takes a
    specification and data, nothing that points back at an estimator."""
    stacks = []

    def recording(function):
        def call(*args, **kwargs):
            stacks.append([(f.filename, f.function) for f in inspect.stack()[1:]])
            return function(*args, **kwargs)
        return call

    new_trainer = training._new_trainer

    def traced_trainer(spec, settings):
        trainer = new_trainer(spec, settings)
        if hasattr(trainer, "_run"):  # JAX: the jitted function
            trainer._run = recording(trainer._run)
        else:  # TensorFlow: the concrete function
            concrete = trainer._concrete
            trainer._concrete = lambda *a, **k: recording(concrete(*a, **k))
        return trainer

    monkeypatch.setattr(training, "_new_trainer", traced_trainer)
    clear_cache()
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    y = np.column_stack([X[:, 0], X[:, 1] > 0])
    est = MultiTaskEstimator([("r", RegressionHead(0)), ("c", ClassificationHead(1))],
                             trunk=MLPTrunk((4,)), epochs=2, random_state=0)
    est.fit(X, y)
    clear_cache()
    frames = [(f, fn) for f, fn in stacks[0] if Path(f).resolve().is_relative_to(PACKAGE)]
    outer = [i for i, (_, fn) in enumerate(frames) if fn == "fit"]
    ours = frames[:outer[-1] + 1]  # innermost first, up to the estimator's fit
    modules = {f for f, _ in ours}
    assert len(ours) <= 5 and len(modules) <= 4, ours
    signature = inspect.signature(training.train)
    assert list(signature.parameters) == ["spec", "X", "Y", "W", "settings", "validation",
                                          "start"]
