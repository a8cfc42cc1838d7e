"""Persistence under faults: damaged files are a clear ValueError, saving is atomic,
round trips keep predictions. Fitted estimators are built once for the module."""

import copy
import errno
import io
import json
import os
import re
import sys
import zipfile

import keras
import numpy as np
import pandas as pd
import pytest

import mtestimator
from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier, MultiTaskEstimator, \
    SeparateNetworks
from mtestimator.persistence import archive
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.trunks import KerasTrunk, MLPTrunk

rng = np.random.RandomState(0)
X = rng.normal(size=(60, 4))
YM = (X[:, :3] + rng.normal(scale=0.5, size=(60, 3)) > 0).astype(int)
YJ = np.empty((60, 2), dtype=object)
YJ[:, 0], YJ[:, 1] = X[:, 0] * 3, np.where(X[:, 1] > 0, "a", "b")
Y3 = pd.DataFrame({
    "length": X[:, 0], "weight": X[:, 1] * 2 + 1,
    "species": np.where(X[:, 2] > 0.5, "ant", np.where(X[:, 3] > 0, "bee", "cat")),
    "a": YM[:, 0], "b": YM[:, 1], "c": YM[:, 2],
})
FAST = {"hidden_layer_sizes": (4,), "epochs": 2, "random_state": 0}


def three_heads():
    return MultiTaskEstimator(
        [("size", RegressionHead(columns=["length", "weight"])),
         ("species", ClassificationHead(columns="species")),
         ("tags", MultiLabelHead(columns=["a", "b", "c"]))],
        trunk=MLPTrunk((4,)), epochs=2, random_state=0)


def small_dense(input_shape, seed=None):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(
        3, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed))])


MAKERS = {
    "ml": (lambda: MultiLabelMLPClassifier(**FAST), YM),
    "joint": (lambda: JointRegressorClassifier(**FAST, loss_weights="auto"), YJ),
    "three": (three_heads, Y3),
    # a sequence trunk, and a KerasTrunk (its build_fn is code: saved as a placeholder)
    "lstm": (lambda: JointRegressorClassifier(**FAST, trunk="lstm"), YJ),
    "keras-trunk": (lambda: MultiTaskEstimator([("tags", MultiLabelHead())],
                                               trunk=KerasTrunk(small_dense), epochs=2,
                                               random_state=0), YM),
}
#: One network per head (networks/<head>.keras, optimizers/<head>.npz): the damaged-file
#: table's only (test_separate.py has its round trip), so that the JAX run fits none.
SEPARATE = {"sep": (lambda: SeparateNetworks(three_heads().heads, trunk=MLPTrunk((4,)),
                                             epochs=2, random_state=0), Y3)}


@pytest.fixture(scope="module")
def fitted():
    return {name: make().fit(X, y) for name, (make, y) in MAKERS.items()}


def _good_files(fitted, folder):
    files = {}
    for name, est in fitted.items():
        path = folder / f"{name}.mtest"
        est.save(path)
        files[name] = (path, *read_archive(path))
    return files


@pytest.fixture(scope="module")
def good(fitted, tmp_path_factory):
    """A good file of each estimator: its path, its JSON and its network's bytes."""
    return _good_files(fitted, tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def separate():
    return {name: make().fit(X, y) for name, (make, y) in SEPARATE.items()}


@pytest.fixture(scope="module")
def files(good, separate, tmp_path_factory):
    """The good files of every estimator, SeparateNetworks among them."""
    return {**good, **_good_files(separate, tmp_path_factory.mktemp("separate"))}


def read_archive(path):
    """The JSON and the one network's bytes (None with one network per head)."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        return (json.loads(zf.read("mtestimator.json")),
                zf.read("model.keras") if "model.keras" in names else None)


def other_members(path):
    """The rest of a good file (per-head networks, optimizers): ``{member: bytes}``."""
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()
                if n not in ("mtestimator.json", "model.keras")}


def write_archive(path, meta, model, others=None):
    text = meta if isinstance(meta, (str, bytes)) else json.dumps(meta)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mtestimator.json", text)
        if model is not None:
            zf.writestr("model.keras", model)
        for name, data in (others or {}).items():
            zf.writestr(name, data)


# -- how a good file is damaged: functions of (meta, model, files, others) ->
#    (meta, model, others); ``others``: the file's other members {name: bytes} ----------

def json_edit(edit):
    """A change of the JSON (``edit(meta)`` changes it in place, or returns a new one)."""
    def damage(meta, model, files, others):
        meta = copy.deepcopy(meta)
        out = edit(meta)
        return (meta if out is None else out), model, others
    return damage


def model_bytes(make):
    def damage(meta, model, files, others):
        return meta, make(model, files), others
    return damage


def members_edit(edit):
    """A change of the other members (``edit(others)`` changes the dict in place)."""
    def damage(meta, model, files, others):
        others = dict(others)
        edit(others)
        return meta, model, others
    return damage


def setitem(*keys_and_value):
    *keys, value = keys_and_value

    def edit(meta):
        target = meta
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return edit


def delitem(*keys):
    def edit(meta):
        target = meta
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]
    return edit


def nested(depth, leaf=0.5):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def deep_json(meta):
    """1000-deep lists: too deep for the JSON reader itself."""
    text = json.dumps({**meta, "params": {**meta["params"], "threshold": "@"}})
    return text.replace('"@"', "[" * 1000 + "0.5" + "]" * 1000)


def lambda_network(model, files):
    """A Keras archive with a Lambda layer (code), output named like the head."""
    inputs = keras.Input((4,))
    out = keras.layers.Lambda(lambda t: t * 2, name="labels")(keras.layers.Dense(3)(inputs))
    net = keras.Model(inputs, {"labels": out})
    path = files["ml"][0].parent / "lambda.keras"
    net.save(path)
    data = path.read_bytes()
    path.unlink()
    return data


def broken_keras_config(model, files):
    """A zip where Keras expects its archive, with a config that is not JSON."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(model)) as src, \
            zipfile.ZipFile(buffer, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, b"{not json" if item.filename == "config.json" else data)
    return buffer.getvalue()


def ml_array(attr, data, dtype):
    return setitem("fitted", attr, {"__ndarray__": data, "dtype": dtype})


def head_spec(name):
    return {"__estimator__": name, "params": {}}


def three_pair_list(meta):
    meta["params"]["heads"][1] = meta["params"]["heads"][1]["__tuple__"]


def three_pair_spec(name):
    def edit(meta):
        meta["params"]["heads"][1]["__tuple__"][1]["__estimator__"] = name
    return edit


def fewer_labels(meta):
    state = meta["heads"][0][2]
    state["output_units_"] = 2
    state["classes_"]["__ndarray__"] = [0, 1]
    state["threshold_"]["__ndarray__"] = [0.5, 0.5]
    meta["fitted"]["classes_"] = state["classes_"]
    meta["fitted"]["threshold_"] = state["threshold_"]


TOP_KEYS = ["format", "version", "class", "params", "fitted", "private", "heads", "trunk",
            "networks", "optimizers"]
MISSING = {"format": "not an mtestimator file",
           "version": "its key 'version' is missing",
           "class": "its key 'class' is missing"}

# (id, file, damage, message pattern): every one is a ValueError
CASES = [
    # top level
    ("params-null", "ml", json_edit(setitem("params", None)),
     r"params is null; expected an object of the parameters of MultiLabelMLPClassifier"),
    ("params-list", "ml", json_edit(setitem("params", [1, 2])),
     r"params is a list of 2 items; expected an object of the parameters"),
    *[(f"missing-{key}", "ml", json_edit(delitem(key)),
       MISSING.get(key, rf"its key '{key}' is missing; expected the keys \['format', "))
      for key in TOP_KEYS],
    ("unexpected-top-key", "ml", json_edit(setitem("evil", 1)), r"unexpected key 'evil'"),
    ("json-top-list", "ml", json_edit(lambda meta: [meta]), r"not an mtestimator file\."),
    ("version-string", "ml", json_edit(setitem("version", "2")),
     r"version is the string '2'; expected an integer"),
    ("version-bool", "ml", json_edit(setitem("version", True)),
     r"version is true; expected an integer"),
    ("version-future", "ml", json_edit(setitem("version", 6)),
     r"has format version 6; this mtestimator reads version 5 \(and 2, 3, 4\)"),
    ("class-int", "ml", json_edit(setitem("class", 5)),
     r"class is the integer 5; expected the name of an estimator class, one of "
     r"\[.*'MultiLabelMLPClassifier', 'MultiTaskEstimator'.*\]"),
    ("class-list", "ml", json_edit(setitem("class", ["os", "system"])),
     r"class is a list of 2 items; expected the name of an estimator class"),
    ("class-unknown", "ml", json_edit(setitem("class", "subprocess.Popen")),
     r"names an unknown estimator 'subprocess.Popen'; expected one of"),
    ("class-trunk", "ml", json_edit(setitem("class", "MLPTrunk")),
     r"class names MLPTrunk, a trunk; expected an estimator class"),
    ("class-head", "ml", json_edit(setitem("class", "MultiLabelHead")),
     r"class names MultiLabelHead, a head; expected an estimator class"),
    # one network in the file, where SeparateNetworks has one per head
    ("class-separate-networks", "three", json_edit(setitem("class", "SeparateNetworks")),
     r"networks is a list of 1 item; expected \['size', 'species', 'tags'\], the "
     r"networks of SeparateNetworks"),
    # heads
    ("heads-not-list", "ml", json_edit(setitem("heads", {"a": 1})),
     r"heads is an object with keys \['a'\]; expected a non-empty list of \[name, head spec"),
    ("heads-empty", "ml", json_edit(setitem("heads", [])),
     r"heads is a list of 0 items; expected a non-empty list"),
    ("head-entry-short", "ml", json_edit(delitem("heads", 0, 2)),
     r"heads\[0\] is a list of 2 items; expected a list \[name, head spec, fitted state\]"),
    ("head-name-int", "ml", json_edit(setitem("heads", 0, 0, 7)),
     r"heads\[0\]\[0\] is the integer 7; expected a head name"),
    ("head-name-repeated", "three", json_edit(setitem("heads", 1, 0, "size")),
     r"heads\[1\]\[0\] repeats the head name 'size'"),
    ("head-spec-names-trunk", "three", json_edit(setitem("heads", 1, 1, "__estimator__",
                                                         "MLPTrunk")),
     r"heads\[1\]\[1\]\.__estimator__ names MLPTrunk, a trunk; expected a head class, one "
     r"of \[.*'ClassificationHead', 'MultiLabelHead', 'RegressionHead'.*\]"),
    ("head-spec-unknown", "ml", json_edit(setitem("heads", 0, 1, "__estimator__", "os.system")),
     r"heads\[0\]\[1\]\.__estimator__ names an unknown class 'os.system'; expected a head "
     r"class"),
    ("head-spec-estimator", "ml", json_edit(setitem("heads", 0, 1, "__estimator__",
                                                    "MultiLabelMLPClassifier")),
     r"heads\[0\]\[1\]\.__estimator__ names MultiLabelMLPClassifier, an estimator; expected "
     r"a head class"),
    ("head-spec-not-spec", "ml", json_edit(setitem("heads", 0, 1, "MultiLabelHead")),
     r"heads\[0\]\[1\] is the string 'MultiLabelHead'; expected a head spec"),
    ("head-unknown-param", "ml", json_edit(setitem("heads", 0, 1, "params", "exec", "x")),
     r"heads\[0\]\[1\]\.params has the parameter 'exec', which MultiLabelHead does not "
     r"take; expected parameters among \[.*'columns', .*'loss_weight'.*\]"),
    ("head-param-constraint", "ml", json_edit(setitem("heads", 0, 1, "params", "loss_weight",
                                                      -1.0)),
     r"heads\[0\]\[1\]\.params: The 'loss_weight' parameter of MultiLabelHead must be a "
     r"float in the range \[0\.0, inf\)\. Got -1\.0 instead\.$"),
    ("head-state-not-dict", "ml", json_edit(setitem("heads", 0, 2, None)),
     r"heads\[0\]\[2\] is null; expected an object of fitted attributes"),
    ("head-state-lacks", "ml", json_edit(delitem("heads", 0, 2, "threshold_")),
     r"heads\[0\]\[2\] lacks 'threshold_', which a fitted MultiLabelHead has"),
    ("head-state-name", "ml", json_edit(setitem("heads", 0, 2, "name_", "other")),
     r"heads\[0\]\[2\]\.name_ is the string 'other'; expected the head's name 'labels'"),
    ("head-state-units-type", "ml", json_edit(setitem("heads", 0, 2, "output_units_", "3")),
     r"heads\[0\]\[2\]\.output_units_ is the string '3'; expected a positive integer"),
    ("head-state-classes-size", "three", json_edit(setitem("heads", 1, 2, "output_units_", 5)),
     r"heads\[1\]\[2\]\.classes_ has 3 classes, which output_units_ \(5\) cannot predict"),
    ("head-state-threshold-size", "ml",
     json_edit(setitem("heads", 0, 2, "threshold_", "__ndarray__", [0.5, 0.5])),
     r"heads\[0\]\[2\]\.threshold_ has 2 values; expected output_units_ \(3\)"),
    ("head-state-method-name", "ml", json_edit(setitem("heads", 0, 2, "decode", 1)),
     r"heads\[0\]\[2\]\.decode is not a fitted attribute a file may set"),
    # trunk
    ("trunk-names-head", "ml", json_edit(setitem("trunk", "__estimator__", "RegressionHead")),
     r"trunk\.__estimator__ names RegressionHead, a head; expected a trunk class, one of "
     r"\[.*'KerasTrunk', 'MLPTrunk'.*\]"),
    ("trunk-extra-key", "ml", json_edit(setitem("trunk", "code", "x")),
     r"trunk has the keys \['__estimator__', 'code', 'params'\]; expected a trunk spec"),
    ("trunk-unknown-param", "ml", json_edit(setitem("trunk", "params", "build_fn", None)),
     r"trunk\.params has the parameter 'build_fn', which MLPTrunk does not take"),
    ("trunk-param-callable", "ml", json_edit(setitem("trunk", "params", "activation",
                                                     {"__callable__": 1})),
     r"trunk\.params\.activation is a malformed function placeholder"),
    # the estimator's parameters
    ("param-unknown", "ml", json_edit(setitem("params", "__class__", "x")),
     r"params has the parameter '__class__', which MultiLabelMLPClassifier does not take"),
    ("param-constraint", "ml", json_edit(setitem("params", "epochs", "many")),
     r"params: The 'epochs' parameter of MultiLabelMLPClassifier must be an int"),
    ("param-estimator-in-value", "ml", json_edit(setitem("params", "threshold",
                                                         head_spec("MLPTrunk"))),
     r"params\.threshold is an estimator spec naming 'MLPTrunk'; expected a plain value"),
    ("param-required-missing", "three", json_edit(delitem("params", "heads")),
     r"params lacks the parameter 'heads', which MultiTaskEstimator requires"),
    ("params-heads-pair-list", "three", json_edit(three_pair_list),
     r"params\.heads\[1\] is a list of 2 items; expected a \(name, head\) pair"),
    ("params-heads-names-trunk", "three", json_edit(three_pair_spec("MLPTrunk")),
     r"params\.heads\[1\]\[1\]\.__estimator__ names MLPTrunk, a trunk; expected a head"),
    ("params-trunk-names-head", "three", json_edit(setitem("params", "trunk", "__estimator__",
                                                           "ClassificationHead")),
     r"params\.trunk\.__estimator__ names ClassificationHead, a head; expected a trunk"),
    ("preset-trunk-object", "ml", json_edit(setitem("params", "trunk", head_spec("MLPTrunk"))),
     r"params: The 'trunk' parameter of MultiLabelMLPClassifier must be a str among"),
    ("nested-200-in-params", "ml", json_edit(setitem("params", "threshold", nested(200))),
     r"params\.threshold(\[0\]){50} is nested more than 50 levels deep"),
    ("nested-1000-json", "ml", json_edit(deep_json),
     r"mtestimator\.json is nested too deeply to read"),
    # arrays
    ("ndarray-void", "ml", json_edit(ml_array("classes_", [0, 1, 2], "V8")),
     r"fitted\.classes_\.dtype is the string 'V8'; expected the dtype of booleans, "
     r"integers, floats or unicode strings"),
    ("ndarray-object", "ml", json_edit(ml_array("classes_", [0, 1, 2], "|O")),
     r"fitted\.classes_\.dtype is the string '\|O'; expected the dtype of booleans"),
    ("ndarray-datetime", "ml", json_edit(ml_array("classes_", [0, 1, 2], "M8[ns]")),
     r"fitted\.classes_\.dtype is the string 'M8\[ns\]'"),
    ("ndarray-struct", "ml", json_edit(ml_array("classes_", [0, 1, 2], "i8,i8")),
     r"fitted\.classes_\.dtype is the string 'i8,i8'"),
    ("ndarray-bytes", "ml", json_edit(ml_array("classes_", [0, 1, 2], "|S5")),
     r"fitted\.classes_\.dtype is the string '\|S5'"),
    ("ndarray-dtype-null", "ml", json_edit(ml_array("classes_", [0, 1, 2], None)),
     r"fitted\.classes_\.dtype is null"),
    ("ndarray-data-not-dtype", "ml", json_edit(ml_array("classes_", ["x", "y", "z"], "<i8")),
     r"fitted\.classes_\.__ndarray__\[0\] is the string 'x'; expected an integer in "
     r"\[-9223372036854775808, 9223372036854775807\] for dtype '<i8'"),
    ("ndarray-int-overflow", "ml", json_edit(ml_array("classes_", [0, 1, 2**70], "<i8")),
     r"fitted\.classes_\.__ndarray__\[2\] is the integer 1180591620717411303424; expected "
     r"an integer in"),
    ("ndarray-float-overflow", "ml", json_edit(ml_array("threshold_", [0.5, 0.5, 1e300],
                                                        "<f4")),
     r"fitted\.threshold_\.__ndarray__\[2\] is the number 1e\+300; expected a number "
     r"within"),
    ("ndarray-bool-in-floats", "ml", json_edit(ml_array("threshold_", [0.5, True, 0.5],
                                                        "<f8")),
     r"fitted\.threshold_\.__ndarray__\[1\] is true; expected a number"),
    ("ndarray-string-too-long", "three",
     json_edit(setitem("heads", 1, 2, "classes_", "__ndarray__", ["ant", "beetle", "cat"])),
     r"heads\[1\]\[2\]\.classes_\.__ndarray__\[1\] is the string 'beetle'; expected a "
     r"string of at most 3 characters for dtype '<U3'"),
    ("ndarray-ragged", "ml", json_edit(ml_array("threshold_", [[0.5], [0.5, 0.5]], "<f8")),
     r"fitted\.threshold_\.__ndarray__ is ragged: lists of lengths \[1, 2\] at depth 2"),
    ("ndarray-mixed", "ml", json_edit(ml_array("threshold_", [[0.5], 0.5], "<f8")),
     r"fitted\.threshold_\.__ndarray__ mixes lists and values at depth 2"),
    ("ndarray-too-deep", "ml", json_edit(ml_array("threshold_", nested(40), "<f8")),
     r"fitted\.threshold_\.__ndarray__ is nested more than 32 levels deep"),
    ("ndarray-wrong-ndim", "ml", json_edit(ml_array("threshold_", [[0.5, 0.5, 0.5]], "<f8")),
     r"fitted\.threshold_ is an array; expected null or a 1-D array of floats"),
    ("ndarray-extra-key", "ml", json_edit(setitem("fitted", "classes_", "shape", [3])),
     r"fitted\.classes_ is an array with the keys \['__ndarray__', 'dtype', 'shape'\]; "
     r"expected the keys \['__ndarray__', 'dtype'\]"),
    ("ndarray-huge-strings", "ml", json_edit(ml_array("classes_", ["a", "b"], "<U200000000")),
     r"fitted\.classes_ makes the arrays of the file larger than 1073741824 bytes"),
    ("ndarray-dtype-too-wide", "ml", json_edit(ml_array("classes_", ["a"], "<U999999999")),
     r"fitted\.classes_\.dtype is the string '<U999999999'; expected the dtype of"),
    # fitted and private state
    ("fitted-not-dict", "ml", json_edit(setitem("fitted", [])),
     r"fitted is a list of 0 items; expected an object of fitted attributes"),
    ("fitted-private-name", "ml", json_edit(setitem("fitted", "_dense_layers", [])),
     r"fitted\._dense_layers is not a fitted attribute a file may set"),
    ("fitted-sets-model", "ml", json_edit(setitem("fitted", "model_", None)),
     r"fitted\.model_ is not a fitted attribute a file may set"),
    ("fitted-wrong-type", "ml", json_edit(setitem("fitted", "n_features_in_", "4")),
     r"fitted\.n_features_in_ is the string '4'; expected a non-negative integer"),
    ("fitted-history", "ml", json_edit(setitem("fitted", "history_", "loss", [0.5, "x"])),
     r"fitted\.history_ is an object with keys .*; expected an object of lists of numbers"),
    ("fitted-lacks-input-shape", "ml", json_edit(delitem("fitted", "input_shape_")),
     r"fitted lacks 'input_shape_'"),
    ("private-not-dict", "ml", json_edit(setitem("private", "x")),
     r"private is the string 'x'; expected an object with the keys"),
    ("private-extra-key", "ml", json_edit(setitem("private", "_dense_layers", None)),
     r"private has the keys \['_X_dtype', '_dense_layers', "),
    ("private-seed-type", "ml", json_edit(setitem("private", "_seed", "0")),
     r"private\._seed is the string '0'; expected null or an integer"),
    ("private-x-dtype", "ml", json_edit(setitem("private", "_X_dtype", "object")),
     r"private\._X_dtype is the string 'object'; expected 'float32' or 'string'"),
    ("private-layout-type", "joint", json_edit(setitem("private", "_target_layout", 3)),
     r"private\._target_layout is the integer 3; expected null or a list of \(column, head "
     r"name\) pairs"),
    ("private-layout-owner", "joint", json_edit(setitem("private", "_target_layout", 1,
                                                        "__tuple__", 1, "nope")),
     r"private\._target_layout\[1\]\[1\] is the string 'nope'; expected the name of a head, "
     r"one of \['regression', 'classification'\]"),
    ("private-layout-null-two-heads", "joint", json_edit(setitem("private", "_target_layout",
                                                                 None)),
     r"private\._target_layout is null, which only one head may have"),
    ("private-frame-columns", "three", json_edit(setitem("private", "_target_frame_columns",
                                                         [["a"]])),
     r"private\._target_frame_columns is a list of 1 item; expected null or a list of "
     r"column names"),
    # the archive
    ("json-not-json", "ml", json_edit(lambda meta: "{not json"),
     r"not an mtestimator file, or it is damaged: Expecting property name"),
    ("json-not-utf8", "ml", json_edit(lambda meta: b"\xff\xfe\xfa"),
     r"not an mtestimator file, or it is damaged"),
    # the network
    ("model-empty", "ml", model_bytes(lambda model, files: b""),
     r"The network inside '.*bad\.mtest' \(model\.keras\) is damaged: it is empty"),
    ("model-not-zip", "ml", model_bytes(lambda model, files: b"not a zip at all"),
     r"The network inside '.*' \(model\.keras\) is damaged: it is not a Keras archive"),
    ("model-truncated", "ml", model_bytes(lambda model, files: model[:len(model) // 2]),
     r"The network inside '.*' \(model\.keras\) is damaged"),
    ("model-bad-config", "ml", model_bytes(broken_keras_config),
     r"The network inside '.*' \(model\.keras\) is damaged or unsafe: JSONDecodeError"),
    ("model-lambda-refused", "ml", model_bytes(lambda_network),
     r"The network inside '.*' \(model\.keras\) is damaged or unsafe: .*safe_mode"),
    ("model-outputs-not-heads", "ml", model_bytes(lambda model, files: files["three"][2]),
     r"the network's outputs \['size', 'species', 'tags'\] do not match the heads in "
     r"mtestimator\.json; expected \['labels'\]"),
    ("model-output-width", "ml", json_edit(fewer_labels),
     r"the network's output 'labels' has 3 units; expected heads\[0\]'s output_units_ \(2\)"),
    ("model-input-shape", "ml", json_edit(lambda meta: meta["fitted"].update(
        input_shape_={"__tuple__": [5]}, n_features_in_=5)),
     r"the network takes samples of shape \(4,\); expected fitted\.input_shape_ \(5,\)"),
]


# -- hand-edited values that load and answer wrongly unless checked (issue 26) --------

NAN, INF = float("nan"), float("inf")


def values(*keys_and_values):
    """Set the values of the array at ``keys``."""
    *keys, data = keys_and_values
    return setitem(*keys, "__ndarray__", data)


def array(data, dtype):
    return {"__ndarray__": data, "dtype": dtype}


def layout(*pairs):
    return setitem("private", "_target_layout", [{"__tuple__": list(p)} for p in pairs])


THREE_LAYOUT = [("length", "size"), ("weight", "size"), ("species", "species"), ("a", "tags"),
                ("b", "tags"), ("c", "tags")]


def reversed_list(*keys):
    def edit(meta):
        target = meta
        for key in keys:
            target = target[key]
        target.reverse()
    return edit


def params_heads(edit):
    def change(meta):
        edit(meta["params"]["heads"])
    return change


def trunk_sizes(sizes, activation=None):
    """The trunk of the file and of its parameters, consistently (not the network)."""
    def edit(meta):
        specs = [meta["trunk"]]
        if isinstance(meta["params"].get("trunk"), dict):
            specs.append(meta["params"]["trunk"])
        else:  # a preset: the trunk is made from its parameters
            meta["params"]["hidden_layer_sizes"] = {"__tuple__": sizes}
            if activation:
                meta["params"]["activation"] = activation
        for spec in specs:
            spec["params"]["hidden_layer_sizes"] = {"__tuple__": sizes}
            if activation:
                spec["params"]["activation"] = activation
    return edit


def gru_trunk(meta):
    """A GRU trunk in the file and its parameters, where the network has an LSTM."""
    meta["params"]["trunk"] = "gru"
    meta["trunk"]["params"]["cell"] = "gru"


def per_head_history(history):
    def edit(meta):
        meta["fitted"]["history_"] = history
        meta["fitted"]["n_iter_"] = max(len(v) for v in history.values())
    return edit


def npz(*arrays, **named):
    buffer = io.BytesIO()
    np.savez(buffer, *arrays, **named)
    return buffer.getvalue()


def optimizer_arrays(edit):
    """The arrays of optimizers/model.npz changed by ``edit(list of arrays)``."""
    def change(others):
        with np.load(io.BytesIO(others["optimizers/model.npz"])) as data:
            arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
        others["optimizers/model.npz"] = npz(*edit(arrays))
    return change


def pickled_npz(others):
    buffer = io.BytesIO()
    np.savez(buffer, np.array([{"a": 1}], dtype=object))
    others["optimizers/model.npz"] = buffer.getvalue()


DAMAGED = r"is damaged or hand-edited: "

LOAD_CASES = [
    # finite scaling: a regression head's mean_ and std_
    ("reg-mean-nan", "three", json_edit(values("heads", 0, 2, "mean_", [NAN, 1.0])),
     DAMAGED + r"heads\[0\]\[2\]\.mean_\[0\] is the number nan; expected a finite number "
     r"\(a target mean\)"),
    ("reg-mean-inf", "joint", json_edit(values("heads", 0, 2, "mean_", [INF])),
     r"heads\[0\]\[2\]\.mean_\[0\] is the number inf; expected a finite number"),
    ("reg-mean-nan-separate", "sep", json_edit(values("heads", 0, 2, "mean_", [0.0, NAN])),
     r"heads\[0\]\[2\]\.mean_\[1\] is the number nan; expected a finite number"),
    ("reg-std-nan", "three", json_edit(values("heads", 0, 2, "std_", [NAN, 1.0])),
     r"heads\[0\]\[2\]\.std_\[0\] is the number nan; expected a finite number > 0 \(a "
     r"standard deviation\)"),
    ("reg-std-zero", "joint", json_edit(values("heads", 0, 2, "std_", [0.0])),
     r"heads\[0\]\[2\]\.std_\[0\] is the number 0\.0; expected a finite number > 0"),
    ("reg-std-negative", "lstm", json_edit(values("heads", 0, 2, "std_", [-5.0])),
     r"heads\[0\]\[2\]\.std_\[0\] is the number -5\.0; expected a finite number > 0"),
    ("reg-std-inf-separate", "sep", json_edit(values("heads", 0, 2, "std_", [1.0, INF])),
     r"heads\[0\]\[2\]\.std_\[1\] is the number inf; expected a finite number > 0"),
    # thresholds: finite, in [0, 1]
    ("ml-threshold-nan", "ml", json_edit(values("heads", 0, 2, "threshold_", [NAN] * 3)),
     r"heads\[0\]\[2\]\.threshold_\[0\] is the number nan; expected a finite number in "
     r"\[0, 1\] \(a probability threshold\)"),
    ("ml-threshold-above-one", "ml", json_edit(values("heads", 0, 2, "threshold_",
                                                      [0.5, 1.5, 0.5])),
     r"heads\[0\]\[2\]\.threshold_\[1\] is the number 1\.5; expected a finite number in "
     r"\[0, 1\]"),
    ("ml-threshold-negative", "keras-trunk", json_edit(values("heads", 0, 2, "threshold_",
                                                              [0.5, 0.5, -0.1])),
     r"heads\[0\]\[2\]\.threshold_\[2\] is the number -0\.1; expected a finite number in"),
    ("three-threshold-nan", "three", json_edit(values("heads", 2, 2, "threshold_",
                                                      [0.5, NAN, 0.5])),
     r"heads\[2\]\[2\]\.threshold_\[1\] is the number nan; expected a finite number in"),
    ("joint-class-threshold-above-one", "joint", json_edit(values("heads", 1, 2,
                                                                  "threshold_", [1.5])),
     r"heads\[1\]\[2\]\.threshold_\[0\] is the number 1\.5; expected a finite number in "
     r"\[0, 1\] \(a probability threshold\)"),
    ("three-multiclass-threshold", "three", json_edit(setitem("heads", 1, 2, "threshold_",
                                                              array([0.5], "<f8"))),
     r"heads\[1\]\[2\]\.threshold_ has 1 values; expected output_units_ \(3\)"),
    ("sep-threshold-inf", "sep", json_edit(values("heads", 2, 2, "threshold_", [INF] * 3)),
     r"heads\[2\]\[2\]\.threshold_\[0\] is the number inf; expected a finite number in"),
    ("ml-threshold-copy-differs", "ml", json_edit(values("fitted", "threshold_",
                                                         [0.9, 0.5, 0.5])),
     r"fitted\.threshold_ is \[0\.9, 0\.5, 0\.5\]; expected the head 'labels''s threshold_ "
     r"\[0\.5, 0\.5, 0\.5\]"),
    ("ml-pos-weight-negative", "ml", json_edit(setitem("heads", 0, 2, "pos_weight_",
                                                       array([-1.0, 1.0, 1.0], "<f8"))),
     r"heads\[0\]\[2\]\.pos_weight_\[0\] is the number -1\.0; expected a finite number >= 0 "
     r"\(a positive-label weight\)"),
    ("three-class-weight-nan", "three", json_edit(setitem("heads", 1, 2, "class_weight_",
                                                          array([NAN, 1.0, 1.0], "<f8"))),
     r"heads\[1\]\[2\]\.class_weight_\[0\] is the number nan; expected a finite number >= 0 "
     r"\(a class weight\)"),
    # classes: distinct, sorted as np.unique gives them, copies equal to the head's
    ("three-classes-reversed", "three", json_edit(reversed_list("heads", 1, 2, "classes_",
                                                                "__ndarray__")),
     r"heads\[1\]\[2\]\.classes_ holds the classes \['cat', 'bee', 'ant'\]; expected them "
     r"sorted as np\.unique gives them, \['ant', 'bee', 'cat'\]"),
    ("three-classes-repeated", "three", json_edit(values("heads", 1, 2, "classes_",
                                                         ["ant", "ant", "cat"])),
     r"heads\[1\]\[2\]\.classes_ is an array; expected distinct classes; it holds "
     r"\['ant', 'ant', 'cat'\]"),
    ("joint-classes-reversed", "joint", json_edit(reversed_list("heads", 1, 2, "classes_",
                                                                "__ndarray__")),
     r"heads\[1\]\[2\]\.classes_ holds the classes \['b', 'a'\]; expected them sorted"),
    ("sep-classes-reversed", "sep", json_edit(reversed_list("heads", 1, 2, "classes_",
                                                            "__ndarray__")),
     r"heads\[1\]\[2\]\.classes_ holds the classes \['cat', 'bee', 'ant'\]"),
    ("ml-labels-repeated", "ml", json_edit(values("heads", 0, 2, "classes_", [0, 0, 1])),
     r"heads\[0\]\[2\]\.classes_ is an array; expected distinct classes"),
    ("joint-estimator-classes-differ", "joint", json_edit(values("fitted", "classes_",
                                                                 ["b", "a"])),
     r"fitted\.classes_ is \[\"b\", \"a\"\]; expected the head 'classification''s classes_ "
     r"\[\"a\", \"b\"\]"),
    ("lstm-estimator-classes-differ", "lstm", json_edit(values("fitted", "classes_",
                                                               ["a", "c"])),
     r"fitted\.classes_ is \[\"a\", \"c\"\]; expected the head 'classification''s"),
    ("ml-estimator-classes-differ", "ml", json_edit(values("fitted", "classes_", [0, 1, 5])),
     r"fitted\.classes_ is \[0, 1, 5\]; expected the head 'labels''s classes_ \[0, 1, 2\]"),
    ("three-estimator-classes-two-heads", "three",
     json_edit(setitem("fitted", "classes_", array(["ant", "bee", "cat"], "<U3"))),
     r"fitted\.classes_ is set, but 2 heads of the file have classes_; expected the copy of "
     r"the one head's"),
    # activations and losses: those of the head's kind and units
    ("three-reg-activation", "three", json_edit(setitem("heads", 0, 2, "output_activation_",
                                                        "bogus")),
     r"heads\[0\]\[2\]\.output_activation_ is the string 'bogus'; expected 'linear'"),
    ("three-softmax-as-sigmoid", "three", json_edit(setitem("heads", 1, 2,
                                                            "output_activation_", "sigmoid")),
     r"heads\[1\]\[2\]\.output_activation_ is the string 'sigmoid'; expected 'softmax' for "
     r"output_units_ \(3\)"),
    ("joint-sigmoid-as-softmax", "joint", json_edit(setitem("heads", 1, 2,
                                                            "output_activation_", "softmax")),
     r"heads\[1\]\[2\]\.output_activation_ is the string 'softmax'; expected 'sigmoid' for "
     r"output_units_ \(1\)"),
    ("ml-activation-linear", "ml", json_edit(setitem("heads", 0, 2, "output_activation_",
                                                     "linear")),
     r"heads\[0\]\[2\]\.output_activation_ is the string 'linear'; expected 'sigmoid'"),
    ("sep-multilabel-loss", "sep", json_edit(setitem("heads", 2, 2, "loss_", "mse")),
     r"heads\[2\]\[2\]\.loss_ is the string 'mse'; expected 'binary_crossentropy'"),
    ("joint-regression-loss", "joint", json_edit(setitem("heads", 0, 2, "loss_", "mae")),
     r"heads\[0\]\[2\]\.loss_ is the string 'mae'; expected 'mean_squared_error'"),
    # attributes the class does not declare
    ("ml-undeclared", "ml", json_edit(setitem("fitted", "foo_", 1)),
     r"fitted\.foo_ is not a fitted attribute of MultiLabelMLPClassifier; expected "
     r"attributes among \[.*'classes_'"),
    ("three-undeclared", "three", json_edit(setitem("fitted", "threshold_",
                                                    array([0.5], "<f8"))),
     r"fitted\.threshold_ is not a fitted attribute of MultiTaskEstimator"),
    ("sep-undeclared", "sep", json_edit(setitem("fitted", "target_names_", array([0], "<i8"))),
     r"fitted\.target_names_ is not a fitted attribute of SeparateNetworks"),
    ("regression-head-threshold", "three", json_edit(setitem("heads", 0, 2, "threshold_",
                                                             array([0.5], "<f8"))),
     r"heads\[0\]\[2\]\.threshold_ is not a fitted attribute of RegressionHead; expected "
     r"attributes among \[.*'mean_'"),
    ("classification-head-mean", "joint", json_edit(setitem("heads", 1, 2, "mean_",
                                                            array([0.5], "<f8"))),
     r"heads\[1\]\[2\]\.mean_ is not a fitted attribute of ClassificationHead"),
    ("multilabel-head-std", "ml", json_edit(setitem("heads", 0, 2, "std_",
                                                    array([0.5], "<f8"))),
     r"heads\[0\]\[2\]\.std_ is not a fitted attribute of MultiLabelHead"),
    ("condition-head-itself", "three", json_edit(setitem("heads", 0, 2, "condition_head_",
                                                         "size")),
     r"heads\[0\]\[2\]\.condition_head_ is the string 'size'; expected the name of another "
     r"ClassificationHead of the file, one of \['species'\]"),
    # y's layout: y's order, each head its own columns
    ("three-layout-reversed", "three", json_edit(reversed_list("private", "_target_layout")),
     r"private\._target_layout lists the columns .*; expected distinct columns of y in y's "
     r"order"),
    ("sep-layout-reversed", "sep", json_edit(reversed_list("private", "_target_layout")),
     r"private\._target_layout lists the columns"),
    ("joint-layout-reversed", "joint", json_edit(reversed_list("private", "_target_layout")),
     r"private\._target_layout lists the columns \[1, 0\]; expected distinct columns of "
     r"y in y's order, \[0, 1\]"),
    ("three-frame-columns-reversed", "three",
     json_edit(reversed_list("private", "_target_frame_columns")),
     r"private\._target_layout lists the columns"),
    ("three-layout-owner-swapped", "three", json_edit(layout(
        ("length", "tags"), *THREE_LAYOUT[1:5], ("c", "size"))),
     r"private\._target_layout gives head 'size' the columns \['weight', 'c'\]; expected "
     r"those of its columns parameter, \['length', 'weight'\]"),
    ("three-layout-unknown-column", "three", json_edit(layout(*THREE_LAYOUT[:5],
                                                              ("zzz", "tags"))),
     r"private\._target_layout lists the columns"),
    # features: n_features_in_ and feature_names_in_ against what the network takes
    ("three-x-dtype", "three", json_edit(setitem("private", "_X_dtype", "string")),
     r"the network takes float32 samples; expected private\._X_dtype \('string'\)"),
    ("sep-x-dtype", "sep", json_edit(setitem("private", "_X_dtype", "string")),
     r"networks/size\.keras takes float32 samples; expected private\._X_dtype"),
    ("ml-n-features", "ml", json_edit(setitem("fitted", "n_features_in_", 7)),
     r"fitted\.n_features_in_ is the integer 7; expected the features of input_shape_ \(4\)"),
    ("lstm-n-features", "lstm", json_edit(setitem("fitted", "n_features_in_", 3)),
     r"fitted\.n_features_in_ is the integer 3; expected the features of input_shape_ \(4\)"),
    ("three-feature-names-count", "three", json_edit(setitem(
        "fitted", "feature_names_in_", array(["a", "b", "c"], "<U1"))),
     r"fitted\.feature_names_in_ has 3 names; expected n_features_in_ \(4\)"),
    ("keras-trunk-feature-names-count", "keras-trunk", json_edit(setitem(
        "fitted", "feature_names_in_", array(["a", "b", "c"], "<U1"))),
     r"fitted\.feature_names_in_ has 3 names; expected the features of input_shape_ \(4\)"),
    ("sep-feature-names-repeated", "sep", json_edit(setitem(
        "fitted", "feature_names_in_", array(["a", "a", "b", "c"], "<U1"))),
     r"fitted\.feature_names_in_ is an array; expected distinct column names"),
    # the parameters make the fitted heads and trunk
    ("three-params-heads-fewer", "three", json_edit(params_heads(lambda h: h.pop())),
     DAMAGED + r"the heads of its parameters, \['size', 'species'\], differ from the fitted "
     r"heads \['size', 'species', 'tags'\]"),
    ("three-params-heads-swapped", "three", json_edit(params_heads(lambda h: h.reverse())),
     r"the heads of its parameters, \['tags', 'species', 'size'\], differ"),
    ("sep-params-heads-fewer", "sep", json_edit(params_heads(lambda h: h.pop(0))),
     r"the heads of its parameters, \['species', 'tags'\], differ"),
    ("three-params-head-changed", "three",
     json_edit(setitem("params", "heads", 0, "__tuple__", 1, "params", "scale", False)),
     r"its parameters' head 'size', \{'scale': False\}, differs from the fitted one, "
     r"\{'scale': True\}"),  # only what differs: otherwise=nan equals itself
    ("ml-params-threshold", "ml", json_edit(setitem("params", "threshold", 0.9)),
     r"its parameters' head 'labels', .*'threshold': 0\.9.*, differs from the fitted one"),
    ("joint-params-scale", "joint", json_edit(setitem("params", "scale_regression_target",
                                                      False)),
     r"its parameters' head 'regression', .* differs from the fitted one"),
    ("three-params-trunk", "three", json_edit(setitem("params", "trunk", "params",
                                                      "hidden_layer_sizes",
                                                      {"__tuple__": [8]})),
     r"its parameters' trunk, .*\[8\].*, differs from the fitted one"),
    ("ml-params-hidden-sizes", "ml", json_edit(setitem("params", "hidden_layer_sizes",
                                                       {"__tuple__": [8]})),
     r"its parameters' trunk, .* differs from the fitted one"),
    ("ml-params-callbacks", "ml", json_edit(setitem("params", "callbacks", [{"a": 1}])),
     r"params\.callbacks is a list of 1 item; expected null: callbacks are code"),
    ("sep-params-callbacks", "sep", json_edit(setitem("params", "callbacks", {"x": 1})),
     r"params\.callbacks is an object with keys \['x'\]; expected null"),
    ("three-params-epochs-object", "three", json_edit(setitem("params", "epochs", {"a": 1})),
     r"params: The 'epochs' parameter of MultiTaskEstimator must be an int"),
    ("sep-params-epochs-tuple", "sep", json_edit(setitem("params", "epochs",
                                                         {"__tuple__": [2]})),
     r"params: The 'epochs' parameter of SeparateNetworks must be an int"),
    ("joint-params-batch-float", "joint", json_edit(setitem("params", "batch_size", 2.5)),
     r"params: The 'batch_size' parameter of JointRegressorClassifier must be an int"),
    # histories and epochs
    ("sep-history-not-per-head", "sep", json_edit(per_head_history({"loss": [1.0, 0.5]})),
     r"fitted\.history_ has the keys \['loss'\]; expected the losses of the heads' networks, "
     r"\['size_loss', 'species_loss', 'tags_loss'\]"),
    ("sep-history-lacks-head", "sep", json_edit(per_head_history(
        {"size_loss": [1.0, 0.5], "species_loss": [1.0, 0.5]})),
     r"fitted\.history_ has the keys \['size_loss', 'species_loss'\]; expected"),
    ("sep-history-metric-of-another-head", "sep", json_edit(per_head_history(
        {"size_loss": [1.0, 0.5], "species_loss": [1.0, 0.5], "tags_loss": [1.0, 0.5],
         "size_accuracy": [0.5, 0.6]})),
     r"fitted\.history_ has the keys \[.*'size_accuracy'.*\]; expected .* "
     r"'\[val_\]<head>_<metric>' for the metrics \['size_r2', 'species_accuracy', "
     r"'tags_binary_accuracy'\]"),
    ("ml-n-iter", "ml", json_edit(setitem("fitted", "n_iter_", 5)),
     r"fitted\.n_iter_ is the integer 5; expected the epochs of history_ \(2\)"),
    # the networks: the layers the heads and trunk build
    ("three-network-trunk-sizes", "three", json_edit(trunk_sizes([8])),
     r"the network's layer 1 is \('Dense', 'relu', \[\(4, 4\), \(4,\)\]\); expected "
     r"\('Dense', 'relu', \[\(4, 8\), \(8,\)\]\)"),
    ("ml-network-trunk-sizes", "ml", json_edit(trunk_sizes([4, 4])),
     r"the network's layer \d is .*; expected .* as the heads and trunk in mtestimator\.json "
     r"build it"),
    ("sep-network-trunk-sizes", "sep", json_edit(trunk_sizes([3])),
     r"networks/size\.keras's layer 1 is \('Dense', 'relu', \[\(4, 4\), \(4,\)\]\); expected "
     r"\('Dense', 'relu', \[\(4, 3\), \(3,\)\]\)"),
    ("three-network-activation", "three", json_edit(trunk_sizes([4], activation="tanh")),
     r"the network's layer 1 is \('Dense', 'relu', .*; expected \('Dense', 'tanh'"),
    ("lstm-network-cell", "lstm", json_edit(gru_trunk),
     r"the network's layer 1 is \('LSTM'.*; expected \('GRU'"),
    ("joint-network-uncertainty", "joint", json_edit(setitem("params", "loss_weights",
                                                             {"__tuple__": [1.0, 1.0]})),
     r"the network's layer \d+ is .*Uncertainty.*; expected"),
    # the optimizers' state
    ("optimizer-not-listed", "ml", json_edit(setitem("optimizers", [])),
     DAMAGED + r"it holds optimizers/model\.npz, which no mtestimator file of its estimator "
     r"holds"),
    ("optimizer-missing", "ml", members_edit(lambda o: o.pop("optimizers/model.npz")),
     r"it lacks optimizers/model\.npz, the state of an optimizer that mtestimator\.json "
     r"lists"),
    ("optimizer-listed-twice", "ml", json_edit(setitem("optimizers", ["model", "model"])),
     r"optimizers is a list of 2 items; expected a list of distinct network keys among "
     r"\['model'\]"),
    ("optimizer-unknown-key", "sep", json_edit(setitem("optimizers", ["evil"])),
     r"optimizers is a list of 1 item; expected a list of distinct network keys"),
    ("optimizer-not-npz", "ml", members_edit(lambda o: o.update(
        {"optimizers/model.npz": b"not an npz"})),
     DAMAGED + r"its optimizers/model\.npz is not an array file of numbers"),
    ("optimizer-pickled-objects", "ml", members_edit(pickled_npz),
     r"its optimizers/model\.npz is not an array file of numbers .*dtype object"),
    ("optimizer-named-arrays", "joint", members_edit(lambda o: o.update(
        {"optimizers/model.npz": npz(evil=np.zeros(3))})),
     r"its optimizers/model\.npz is not an array file of numbers .*arr_0\.npy"),
    ("optimizer-fewer-arrays", "ml", members_edit(optimizer_arrays(lambda a: a[:-1])),
     DAMAGED + r"optimizers/model\.npz holds arrays of shapes and dtypes .*; expected those "
     r"of the adam optimizer of model\.keras"),
    ("optimizer-wrong-shape", "three", members_edit(optimizer_arrays(
        lambda a: [*a[:2], np.zeros((1, 1), np.float32), *a[3:]])),
     r"optimizers/model\.npz holds arrays of shapes and dtypes"),
    ("optimizer-nan", "lstm", members_edit(optimizer_arrays(
        lambda a: [*a[:-1], np.full_like(a[-1], np.nan)])),
     r"optimizers/model\.npz's array \d+ holds non-finite values"),
    ("optimizer-fitted-with-sgd", "ml", json_edit(setitem("private", "_fitted_with",
                                                          "optimizer", "sgd")),
     r"optimizers/model\.npz holds arrays .*; expected those of the sgd optimizer"),
    ("fitted-with-type", "ml", json_edit(setitem("private", "_fitted_with", "adam")),
     r"private\._fitted_with is the string 'adam'; expected null or an object"),
    ("fit-seed-type", "sep", json_edit(setitem("private", "_fit_seed", 1.5)),
     r"private\._fit_seed is the number 1\.5; expected null or an integer"),
    # the archive's members: nothing but its own
    ("extra-network-member", "ml", members_edit(lambda o: o.update(
        {"networks/evil.keras": b"x"})),
     DAMAGED + r"it holds networks/evil\.keras, which no mtestimator file of its estimator "
     r"holds; expected the members \['mtestimator\.json', 'model\.keras', "
     r"'optimizers/model\.npz'\]"),
    ("extra-network-member-separate", "sep", members_edit(lambda o: o.update(
        {"networks/evil.keras": o["networks/size.keras"]})),
     r"it holds networks/evil\.keras, which no mtestimator file of its estimator holds"),
    ("extra-text-member", "three", members_edit(lambda o: o.update({"readme.txt": b"hi"})),
     r"it holds readme\.txt, which no mtestimator file"),
]
CASES += LOAD_CASES

TEMPORARY_PATH = re.compile(r"tmp[a-z0-9_]{8}[/\\]")


def test_at_least_twenty_five_damaged_file_cases():
    assert len(CASES) >= 25
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("source, damage, match", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_damaged_file_is_a_clear_value_error(source, damage, match, files, tmp_path):
    path, meta, model = files[source]
    meta, model, others = damage(meta, model, files, other_members(path))
    bad = tmp_path / "bad.mtest"
    write_archive(bad, meta, model, others)
    with pytest.raises(ValueError, match=match) as info:
        mtestimator.load(bad)
    message = str(info.value)
    assert repr(str(bad)) in message  # names the file
    assert not TEMPORARY_PATH.search(message), message  # never a temporary path
    assert len(message) < 1500


def test_good_files_still_load(files):
    # the damage above is the table's, not the helpers': a rewritten good file loads
    for name, (path, meta, model) in files.items():
        again = path.parent / f"rewritten-{name}.mtest"
        write_archive(again, meta, model, other_members(path))
        assert type(mtestimator.load(again)).__name__ == meta["class"]
    # a KerasTrunk fitted on a DataFrame keeps feature names but no n_features_in_
    path, meta, model = files["keras-trunk"]
    meta = {**meta, "fitted": {**meta["fitted"], "feature_names_in_": {
        "__ndarray__": ["f0", "f1", "f2", "f3"], "dtype": "<U2"}}}
    write_archive(path.parent / "names.mtest", meta, model, other_members(path))
    assert list(mtestimator.load(path.parent / "names.mtest").feature_names_in_) == \
        ["f0", "f1", "f2", "f3"]


# -- damage to the archive itself -----------------------------------------------------

def test_truncated_and_corrupt_archives(good, tmp_path):
    path, meta, model = good["ml"]
    data = path.read_bytes()
    for i, cut in enumerate((10, len(data) // 2, len(data) - 10)):
        bad = tmp_path / f"cut{i}.mtest"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="not an mtestimator file, or it is damaged"):
            mtestimator.load(bad)
    # a flipped byte inside the compressed JSON: a CRC or zlib error, never garbage
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("mtestimator.json")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    flipped = bytearray(data)
    flipped[start + info.compress_size // 2] ^= 0xFF
    bad = tmp_path / "flipped.mtest"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="not an mtestimator file, or it is damaged"):
        mtestimator.load(bad)


def test_archive_entries(good, tmp_path):
    path, meta, model = good["ml"]
    lacking = tmp_path / "lacking.mtest"
    with zipfile.ZipFile(lacking, "w") as zf:
        zf.writestr("mtestimator.json", json.dumps(meta))
    with pytest.raises(ValueError, match="not an mtestimator file: it lacks"):
        mtestimator.load(lacking)
    twice = tmp_path / "twice.mtest"
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(twice, "w") as zf:
        zf.writestr("mtestimator.json", json.dumps(meta))
        zf.writestr("model.keras", model)
        zf.writestr("mtestimator.json", json.dumps(meta))
    with pytest.raises(ValueError, match="holds mtestimator.json 2 times; expected once"):
        mtestimator.load(twice)


def test_oversized_json_is_refused_before_reading(good, tmp_path, monkeypatch):
    path, meta, model = good["ml"]
    monkeypatch.setattr(archive, "MAX_JSON_BYTES", 100)
    with pytest.raises(ValueError, match=r"mtestimator\.json is \d+ bytes; expected at "
                                         r"most 100"):
        mtestimator.load(path)


def test_full_temporary_folder_is_not_damage(files, monkeypatch):
    """A good file while the temporary folder is full: an OSError that says so."""
    path = files["sep"][0]

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("shutil.copyfileobj", full)
    with pytest.raises(OSError, match=r"the temporary folder '.*', where the networks are "
                                      r"unpacked, is full or not writable \(No space left "
                                      r"on device\)\. The file itself is not at fault: .*"
                                      r"TMPDIR") as info:
        mtestimator.load(path)
    assert not isinstance(info.value, ValueError) and info.value.errno == errno.ENOSPC
    assert repr(str(path)) in str(info.value)


def test_missing_temporary_folder_is_not_damage(good, tmp_path, monkeypatch):
    missing = str(tmp_path / "no-such-folder")
    monkeypatch.setattr("tempfile.tempdir", missing)
    with pytest.raises(OSError, match=rf"the temporary folder {re.escape(repr(missing))}.* "
                                      r"is full or not writable.*TMPDIR") as info:
        mtestimator.load(good["ml"][0])
    assert not isinstance(info.value, ValueError)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        mtestimator.load(tmp_path / "nothing.mtest")


def test_nothing_named_by_the_file_is_imported(good, tmp_path):
    path, meta, model = good["ml"]
    meta = copy.deepcopy(meta)
    meta["heads"][0][1]["__estimator__"] = "antigravity"
    bad = tmp_path / "import.mtest"
    write_archive(bad, meta, model)
    before = set(sys.modules)
    with pytest.raises(ValueError, match="unknown class 'antigravity'"):
        mtestimator.load(bad)
    assert "antigravity" not in set(sys.modules) - before


# -- round trips ------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MAKERS))
@pytest.mark.backend
def test_round_trip(name, fitted, good):
    est, (path, _, _) = fitted[name], good[name]
    again = mtestimator.load(path)
    assert type(again) is type(est)
    params = est.get_params()
    if name == "keras-trunk":  # code is not saved: the loaded trunk has no build_fn
        assert again.trunk.build_fn is None and again.trunk_.build_fn is None
        params["trunk__build_fn"] = params["trunk"].build_fn = None
    assert repr(again.get_params()) == repr(params)
    y = MAKERS[name][1]
    if isinstance(y, pd.DataFrame):
        pd.testing.assert_frame_equal(again.predict(X), est.predict(X))
        for a, b in zip(again.predict_proba(X), est.predict_proba(X)):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_array_equal(again.predict(X), est.predict(X))
        np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    assert again.score(X, y) == est.score(X, y)
    assert [n for n, _ in again.heads_] == [n for n, _ in est.heads_]
    for (_, a), (_, b) in zip(again.heads_, est.heads_):
        assert type(a) is type(b) and a.output_units_ == b.output_units_
    # a loaded estimator saves again, to an equal file (less the code not saved)
    resaved = path.parent / f"resaved-{name}.mtest"
    again.save(resaved)
    if name != "keras-trunk":
        assert read_archive(resaved)[0] == read_archive(path)[0]
    np.testing.assert_array_equal(mtestimator.load(resaved).predict_proba(X),
                                  est.predict_proba(X))


# -- the optimizers' state: partial_fit after load continues exactly -------------------

def _continues_alike(est, again, y):
    """partial_fit on ``est`` and on ``again`` (loaded from its file) trains alike."""
    for key, state in est._optimizer_state.items():  # Adam's moments, not a fresh start
        assert len(state) == len(again._optimizer_state[key]) > 2
        for a, b in zip(state, again._optimizer_state[key]):
            np.testing.assert_array_equal(a, b)
    n_iter = est.n_iter_
    est.partial_fit(X, y)
    again.partial_fit(X, y)
    for a, b in zip(est._keras_networks().values(), again._keras_networks().values()):
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(wa, wb)
    assert again.history_ == est.history_ and again.n_iter_ == n_iter + 1


@pytest.mark.parametrize("name", ["ml", "joint", "three", "sep"])
def test_partial_fit_after_load_continues_exactly(name, fitted, separate, files):
    # the module's estimator as it was saved (a copy: the others stay as they are)
    _continues_alike(copy.deepcopy({**fitted, **separate}[name]),
                     mtestimator.load(files[name][0]), {**MAKERS, **SEPARATE}[name][1])


@pytest.mark.backend
def test_partial_fit_after_load_continues_exactly_on_each_backend(tmp_path):
    # one network of one head: the optimizer's variables as each backend orders them
    est = SeparateNetworks([("r", RegressionHead())], trunk=MLPTrunk((3,)), epochs=1,
                           random_state=0).fit(X, X[:, 0])
    est.save(tmp_path / "sep.mtest")
    _continues_alike(est, mtestimator.load(tmp_path / "sep.mtest"), X[:, 0])


@pytest.mark.parametrize("name", ["joint", "sep"])
def test_files_without_metrics_or_thresholds_load(name, files, fitted, separate, tmp_path):
    """Files written before the heads' metrics were in the history (and before a
    ClassificationHead had threshold_) load and predict alike."""
    path, meta, model = files[name]
    meta = copy.deepcopy(meta)
    history = meta["fitted"]["history_"]
    assert any(k.endswith(("_r2", "_accuracy")) for k in history)
    meta["fitted"]["history_"] = {k: v for k, v in history.items() if k.endswith("_loss")}
    for _, spec, state in meta["heads"]:
        if spec["__estimator__"] == "ClassificationHead":
            del state["threshold_"]
    old = tmp_path / f"{name}-before-metrics.mtest"
    write_archive(old, meta, model, other_members(path))
    again = mtestimator.load(old)
    assert sorted(again.history_) == sorted(meta["fitted"]["history_"])
    est = {**fitted, **separate}[name]
    expected = est.predict(X)
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(again.predict(X), expected)
    else:
        np.testing.assert_array_equal(again.predict(X), expected)


def test_format_3_file_loads_without_optimizer_state(good, fitted, tmp_path):
    """A file of format 3 (no optimizer state): loads, partial_fit starts a new optimizer."""
    path, meta, model = good["three"]
    meta = copy.deepcopy(meta)
    meta["version"] = 3
    del meta["optimizers"]
    for key in ("_fit_seed", "_fitted_with"):
        del meta["private"][key]
    old = tmp_path / "format3.mtest"
    write_archive(old, meta, model)
    again = mtestimator.load(old)
    assert again._optimizer_state == {"model": None}
    pd.testing.assert_frame_equal(again.predict(X), fitted["three"].predict(X))


def test_save_refuses_parts_changed_since_fit(fitted, tmp_path):
    est = copy.deepcopy(fitted["ml"])
    est.set_params(hidden_layer_sizes=(8,))
    with pytest.raises(ValueError, match=r"Cannot save MultiLabelMLPClassifier: its "
                                         r"parameters' trunk, .* differs from the fitted one.* "
                                         r"since it was fitted \(set_params\).*Call fit, or "
                                         r"set them back"):
        est.save(tmp_path / "changed.mtest")
    assert os.listdir(tmp_path) == []


# -- atomic save ------------------------------------------------------------------------

def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("target, fault, exc", [
    ("os.fsync", _enospc, OSError),
    ("zipfile.ZipFile.write", _enospc, OSError),
    ("zipfile.ZipFile.writestr", _interrupt, KeyboardInterrupt),
    ("os.fsync", _interrupt, KeyboardInterrupt),
    ("os.replace", _enospc, OSError),
], ids=["fsync-enospc", "zip-write-enospc", "zip-writestr-ctrl-c", "fsync-ctrl-c",
        "replace-enospc"])
def test_failed_save_keeps_the_previous_file(target, fault, exc, fitted, tmp_path,
                                             monkeypatch):
    path = tmp_path / "model.mtest"
    fitted["ml"].save(path)
    before = path.read_bytes()
    monkeypatch.setattr(target, fault)
    with pytest.raises(exc) as info:
        fitted["joint"].save(path)
    monkeypatch.undo()
    if exc is OSError:
        assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.mtest"]  # no temporary file left
    again = mtestimator.load(path)
    assert isinstance(again, MultiLabelMLPClassifier)
    np.testing.assert_array_equal(again.predict_proba(X), fitted["ml"].predict_proba(X))


def test_failed_first_save_leaves_nothing(fitted, tmp_path, monkeypatch):
    monkeypatch.setattr("os.fsync", _enospc)
    with pytest.raises(OSError, match="No space left on device"):
        fitted["ml"].save(tmp_path / "new.mtest")
    assert os.listdir(tmp_path) == []


def test_save_into_a_missing_folder_or_onto_a_folder(fitted, tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "model.mtest"
    with pytest.raises(FileNotFoundError, match=r"the folder .*folder' does not exist"):
        fitted["ml"].save(missing)
    assert not (tmp_path / "no").exists()
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        fitted["ml"].save(tmp_path)
    assert os.listdir(tmp_path) == []


def test_saving_twice_overwrites_cleanly(fitted, tmp_path):
    path = tmp_path / "model.mtest"
    fitted["ml"].save(path)
    fitted["joint"].save(path)
    assert os.listdir(tmp_path) == ["model.mtest"]
    again = mtestimator.load(path)
    assert isinstance(again, JointRegressorClassifier)
    np.testing.assert_array_equal(again.predict(X), fitted["joint"].predict(X))
    fitted["joint"].save(path)  # the same estimator again: the same content
    other = tmp_path / "other" / "model.mtest"
    other.parent.mkdir()
    fitted["joint"].save(other)
    assert read_archive(path)[0] == read_archive(other)[0]
    assert sorted(os.listdir(tmp_path)) == ["model.mtest", "other"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_save_keeps_the_file_mode(fitted, tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = tmp_path / "model.mtest"
    fitted["ml"].save(path)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # as open() would make it
    os.chmod(path, 0o640)
    fitted["ml"].save(path)
    assert os.stat(path).st_mode & 0o777 == 0o640  # replacing keeps the mode


# -- state declared by the parts -------------------------------------------------------

def test_a_new_head_declares_its_state_and_needs_no_edit_in_persistence(tmp_path,
                                                                        monkeypatch):
    from mtestimator.persistence import spec

    class OffsetHead(RegressionHead):
        """A head with fitted state of its own, declared by the head alone."""

        _fitted_state = {"offset_": spec.Integer(1, required=True)}

        def fit(self, y, sample_weight=None):
            super().fit(y, sample_weight)
            self.offset_ = 2
            return self

    monkeypatch.setitem(spec.REGISTRY, "OffsetHead", OffsetHead)
    est = MultiTaskEstimator([("r", OffsetHead())], trunk=MLPTrunk((4,)), epochs=2,
                             random_state=0).fit(X, X[:, 0])
    path = tmp_path / "new.mtest"
    est.save(path)
    again = mtestimator.load(path)
    assert again.heads_[0][1].offset_ == 2
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    meta, model = read_archive(path)
    for edit, match in [
            (delitem("heads", 0, 2, "offset_"),
             r"heads\[0\]\[2\] lacks 'offset_', which a fitted OffsetHead has"),
            (setitem("heads", 0, 2, "offset_", 0),
             r"heads\[0\]\[2\]\.offset_ is the integer 0; expected a positive integer"),
            (setitem("heads", 0, 2, "mean_", "__ndarray__", [0.5, 0.5]),
             r"heads\[0\]\[2\]\.mean_ has 2 values; expected output_units_ \(1\)")]:
        bad = tmp_path / "bad.mtest"
        write_archive(bad, *json_edit(edit)(meta, model, None, other_members(path)))
        with pytest.raises(ValueError, match=match):
            mtestimator.load(bad)


# -- files of earlier format versions -------------------------------------------------

FORMAT2 = os.path.join(os.path.dirname(__file__), "data", "format2")


@pytest.mark.parametrize("name", ["mte", "joint", "ml"])
def test_format_2_files_still_load(name):
    """Files saved by format 2 (tests/data/format2/make.py) predict as they did."""
    expected = np.load(os.path.join(FORMAT2, "expected.npz"))
    est = mtestimator.load(os.path.join(FORMAT2, f"{name}.mtest"))
    Xf = expected["X"]
    pred = est.predict(Xf)
    pred = pred.to_numpy() if isinstance(pred, pd.DataFrame) else np.asarray(pred)
    want = expected[f"{name}_predict"]
    np.testing.assert_array_equal(pred.astype(str) if pred.dtype == object else pred, want)
    proba = est.predict_proba(Xf)
    proba = proba if isinstance(proba, list) else [proba]
    assert len(proba) == len([k for k in expected.files if k.startswith(f"{name}_proba")])
    for i, p in enumerate(proba):
        np.testing.assert_array_equal(p, expected[f"{name}_proba{i}"])
