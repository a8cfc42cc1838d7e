"""Private APIs of other libraries: only through the two _compat modules, checked with pinned versions."""

import ast
import importlib.metadata
from pathlib import Path

import keras
import pytest

import mtestimator
from mtestimator import _compat
from mtestimator.engine import _compat as engine_compat

ROOT = Path(mtestimator.__file__).resolve().parent.parent
COMPAT = {"mtestimator/_compat.py", "mtestimator/engine/_compat.py"}
# Being rewritten elsewhere; their private names are already in the _compat modules, the
# imports move there after the merge (heads.py, trunks.py: StrOptions/Interval,
# validate_params; _persistence.py: InvalidParameterError, validate_parameter_constraints,
# param_names).
NOT_YET_ROUTED = set()
SCANNED = sorted(p.relative_to(ROOT).as_posix()
                 for folder in ("mtestimator", "benchmarks") for p in (ROOT / folder).rglob("*.py"))
OURS = {"mtestimator", "benchmarks"}
# private packages whose names do not start with "_"
PRIVATE_PACKAGES = ("keras.src", "tensorflow.python", "tf_keras.src")
# public despite the underscore: in sklearn.utils.__all__ and in the API reference
PUBLIC_NAMES = {"sklearn.utils._safe_indexing"}
# private methods of other libraries' objects: those the _compat modules wrap, and
# scikit-learn's and scikeras's hooks issue 20 names
WRAPPED_METHODS = {"_validate_params", "_get_param_names", "_flatten_layers", "_cache_size"}
PRIVATE_METHODS = WRAPPED_METHODS | {"_validate_data", "_fit_keras_model"}


def _private(dotted):
    """Whether the dotted name of another library is private."""
    if dotted in PUBLIC_NAMES:
        return False
    parts = dotted.split(".")
    return (any(p.startswith("_") and not p.startswith("__") for p in parts)
            or any(dotted == p or dotted.startswith(p + ".") for p in PRIVATE_PACKAGES))


def _private_uses(source):
    """``(line, what)`` for each private name of another library ``source`` uses."""
    tree = ast.parse(source)
    found, library_names = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in OURS:
                    continue
                if _private(alias.name):
                    found.append((node.lineno, alias.name))
                library_names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split(".")[0] not in OURS:
            for alias in node.names:
                if _private(f"{node.module}.{alias.name}"):
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
                library_names.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        if node.attr in PRIVATE_METHODS:
            found.append((node.lineno, f".{node.attr}"))
        elif isinstance(node.value, ast.Name) and node.value.id in library_names \
                and _private(f"{node.value.id}.{node.attr}"):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return found


@pytest.mark.parametrize("path", SCANNED)
def test_private_apis_only_through_compat(path):
    if path in COMPAT:
        pytest.skip("the private names' own module")
    uses = _private_uses((ROOT / path).read_text())
    if path in NOT_YET_ROUTED:
        assert uses, f"{path} is routed: remove it from NOT_YET_ROUTED"
        # each name it needs is already there: routing it changes its import lines only
        covered = {entry[0] for entry in [*_compat._PRIVATE.values(),
                                          *engine_compat._PRIVATE.values()]}
        covered |= WRAPPED_METHODS
        missing = [(line, what) for line, what in uses if what.rpartition(".")[2] not in covered]
        assert not missing, f"{path} needs private names the _compat modules lack: {missing}"
        return
    assert not uses, (f"{path} uses private names of other libraries: {uses}; import them "
                      "from mtestimator/_compat.py (scikit-learn) or "
                      "mtestimator/engine/_compat.py (Keras, TensorFlow, JAX), each with a "
                      "one-line reason")


def test_the_scan_finds_private_names():
    source = ("import keras\nimport jax\nfrom keras.src.losses import Loss\n"
              "from sklearn.utils import _safe_indexing, _print_elapsed_time\n"
              "from sklearn.utils._tags import Tags\nimport sklearn.metrics._scorer\n"
              "jax._src\nkeras.src.backend\nf._cache_size()\nfrom . import _compat\n")
    assert [what for _, what in _private_uses(source)] == [
        "keras.src.losses.Loss", "sklearn.utils._print_elapsed_time",
        "sklearn.utils._tags.Tags", "sklearn.metrics._scorer", "jax._src", "keras.src",
        "._cache_size"]


def test_installed_versions_are_those_the_private_names_were_checked_with():
    changed = []
    for dist, checked in _compat.CHECKED_WITH.items():
        try:
            installed = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:  # jax is optional
            continue
        if installed.split(".")[:2] != checked.split("."):
            changed.append(f"{dist} {installed} (checked with {checked})")
    assert not changed, (
        "Dependency versions changed: " + ", ".join(changed) + ". Check again each private "
        "name in mtestimator/_compat.py and mtestimator/engine/_compat.py (its comment says "
        "what it does and why it is private), run the tests on both backends, then update "
        "CHECKED_WITH.")


def test_the_private_names_still_exist():
    names = [n for n in _compat.__all__ if n != "CHECKED_WITH"]
    assert all(getattr(_compat, n) is not None for n in names)
    backend = keras.backend.backend()
    other = {"tensorflow": "jax_", "jax": "tf_"}.get(backend, "")
    names = [n for n in engine_compat.__all__
             if n != "CHECKED_WITH" and not (other and n.startswith(other))]
    assert all(getattr(engine_compat, n) is not None for n in names)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _compat.missing
