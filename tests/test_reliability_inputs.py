"""Reliability of fit-time input about targets, heads and their parameters.

Each row of CASES is one mistake and its exact outcome: the exception type and
a message naming the argument, the value and the fix. Every row fails before
training, so the table is cheap; it runs on both backends.
"""

import copy

import numpy as np
import pandas as pd
import pytest

from mtestimator import (JointRegressorClassifier, MultiLabelMLPClassifier, MultiTaskEstimator,
                         SeparateNetworks)
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.trunks import KerasTrunk, MLPTrunk

pytestmark = pytest.mark.backend

rng = np.random.RandomState(0)
X = rng.normal(size=(60, 4))
FAST = {"hidden_layer_sizes": (4,), "epochs": 1, "random_state": 0}
#: y with a number column, a label column and two 0/1 label columns
Y = pd.DataFrame({"v": X[:, 0] * 3, "c": np.where(X[:, 1] > 0, "a", "b"),
                  "m1": (X[:, 2] > 0).astype(int), "m2": (X[:, 3] > 0).astype(int)})
YA = np.column_stack([X[:, 0] * 3, (X[:, 1] > 0).astype(float), Y.m1, Y.m2])
YM = Y[["m1", "m2"]].to_numpy()
YJ = np.empty((60, 2), dtype=object)
YJ[:, 0], YJ[:, 1] = X[:, 0] * 3, np.where(X[:, 1] > 0, "a", "b")

#: The columns each kind of head takes in Y, and a head of that kind
KINDS = {
    "reg": ("v", RegressionHead),
    "clf": ("c", ClassificationHead),
    "mlh": (["m1", "m2"], MultiLabelHead),
}
#: A valid companion head for each kind (so the estimator has two heads)
OTHER = {"reg": ("c", ClassificationHead("c")), "clf": ("v", RegressionHead("v")),
         "mlh": ("v", RegressionHead("v"))}


def mt(*heads, cls=MultiTaskEstimator, **kw):
    return cls(list(heads), trunk=MLPTrunk((4,)), **{"epochs": 1, "random_state": 0, **kw})


def sep(*heads, **kw):
    return mt(*heads, cls=SeparateNetworks, **kw)


def ml(**kw):
    return MultiLabelMLPClassifier(**{**FAST, **kw})


def joint(**kw):
    return JointRegressorClassifier(**{**FAST, **kw})


def _pair(kind, cls=MultiTaskEstimator, **params):
    """An estimator of a ``kind`` head with ``params`` and its valid companion."""
    cols, head = KINDS[kind]
    params = {"columns": cols, **params}
    return lambda: mt((kind, head(**params)), OTHER[kind], cls=cls)


def _families(rows):
    """Each ``(case, kinds, params, y, exc, match)`` on MultiTaskEstimator and
    SeparateNetworks for every kind listed."""
    out = []
    for case, kinds, params, y, exc, match in rows:
        for kind in kinds:
            for est, cls in (("mt", MultiTaskEstimator), ("sep", SeparateNetworks)):
                out.append((f"{est}-{kind}-{case}", _pair(kind, cls, **params), X, y, exc,
                            match))
    return out


ALL = ("reg", "clf", "mlh")
_NOT_A_COLUMN = r"has columns={col}: {val} is not a column; a column is a name .* Give columns"
_DUP = pd.DataFrame(np.column_stack([Y.v, Y.v, Y.c, Y.m1, Y.m2]),
                    columns=["v", "v", "c", "m1", "m2"])
_DUP_C = pd.DataFrame(np.column_stack([Y.v, Y.c, Y.c, Y.m1, Y.m2]),
                      columns=["v", "c", "c", "m1", "m2"])

# (case, kinds, head params, y, exception, message pattern)
COLUMN_ROWS = [
    ("columns-empty", ALL, {"columns": []}, Y, ValueError,
     r"has columns=\[\], an empty list: a head needs at least one column of y"),
    ("columns-float", ALL, {"columns": [0.0]}, YA, ValueError,
     _NOT_A_COLUMN.format(col=r"\[0\.0\]", val=r"0\.0")),
    ("columns-float-frame", ALL, {"columns": 1.5}, Y, ValueError,
     r"The 'columns' parameter of \w+Head must be None, an instance of 'int'.* Got 1\.5"),
    ("columns-bool", ALL, {"columns": True}, YA, ValueError,
     _NOT_A_COLUMN.format(col="True", val="True")),
    ("columns-none-item", ALL, {"columns": ["v", None]}, Y, ValueError,
     _NOT_A_COLUMN.format(col=r"\['v', None\]", val="None")),
    ("position-on-frame", ALL, {"columns": 0}, Y, ValueError,
     r"takes column 0, which y does not have; y's columns are \['v', 'c', 'm1', 'm2'\]\. "
     "Columns of a DataFrame y are taken by label only, never by position"),
    ("positions-on-frame", ALL, {"columns": [2, 3]}, Y, ValueError,
     r"takes column 2, which y does not have.*taken by label only"),
    ("name-on-array", ALL, {"columns": "zz"}, YA, ValueError,
     r"names the column 'zz', but y is not a DataFrame: pass y as a DataFrame"),
    ("position-out-of-range", ALL, {"columns": 9}, YA, ValueError,
     r"takes column 9, which y does not have: y has 4 column\(s\), positions 0 to 3"),
    ("position-negative-out-of-range", ALL, {"columns": [-9]}, YA, ValueError,
     r"takes column -9, which y does not have: y has 4 column\(s\)"),
    ("unknown-label", ALL, {"columns": "zz"}, Y, ValueError,
     r"takes column 'zz', which y does not have; y's columns are"),
]
DUP_ROWS = [
    ("duplicate-names", ALL, {}, _DUP, ValueError,
     r"y has duplicate column names 'v': a head takes its columns by name.*Rename"),
    ("duplicate-names-c", ALL, {}, _DUP_C, ValueError, r"y has duplicate column names 'c'"),
]

def _y(**columns):
    """Y with some columns replaced."""
    y = Y.copy()
    for k, v in columns.items():
        y[k] = v
    return y


_DAYS = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(60) % 2, "D")
_UNSTORABLE = r"the target holds .*dates, durations and bytes are not targets .*Convert them"
_CW = r"class_weight={cw} gives class 'a' the weight {w}; a class weight must be a finite"
# (case, kinds, head params, y, exception, message pattern)
TARGET_ROWS = [
    ("datetime-target", ("reg", "clf"), {}, _y(v=_DAYS, c=_DAYS), TypeError, _UNSTORABLE),
    ("timedelta-target", ("reg", "clf"), {}, _y(v=_DAYS - _DAYS[0], c=_DAYS - _DAYS[0]),
     TypeError, _UNSTORABLE),
    ("datetime-objects", ("reg", "clf"), {},
     _y(v=np.array(list(_DAYS), dtype=object), c=np.array(list(_DAYS), dtype=object)),
     TypeError, r"the target holds .*(datetime64|Timestamp).*not targets"),
    ("bytes-target", ("reg", "clf"), {}, _y(v=np.where(Y.m1, b"x", b"y"),
                                             c=np.where(Y.m1, b"x", b"y")),
     TypeError, r"the target holds .*b'.*\(bytes_?\); dates, durations and bytes"),
    ("loss-weight-1e39", ALL, {"loss_weight": 1e39}, Y, ValueError,
     r"loss_weight=1e\+39 is beyond float32's range .* give a finite loss_weight"),
    ("loss-weight-nan", ALL, {"loss_weight": np.nan}, Y, ValueError,
     r"The 'loss_weight' parameter of \w+Head must be a float in the range \[0\.0, inf\)\. "
     "Got nan"),
    ("loss-weight-inf", ALL, {"loss_weight": np.inf}, Y, ValueError,
     r"The 'loss_weight' parameter of \w+Head .* Got inf"),
]
CLASS_WEIGHT_ROWS = [
    ("class-weight-negative", ("clf",), {"class_weight": {"a": -1, "b": 1}}, Y, ValueError,
     _CW.format(cw=r"\{'a': -1, 'b': 1\}", w="-1")),
    ("class-weight-nan", ("clf",), {"class_weight": {"a": np.nan, "b": 1}}, Y, ValueError,
     _CW.format(cw=r"\{'a': nan, 'b': 1\}", w="nan")),
    ("class-weight-inf", ("clf",), {"class_weight": {"a": np.inf}}, Y, ValueError,
     _CW.format(cw=r"\{'a': inf\}", w="inf")),
    ("class-weight-str", ("clf",), {"class_weight": {"a": "x"}}, Y, ValueError,
     _CW.format(cw=r"\{'a': 'x'\}", w="'x'")),
    ("class-weight-typo", ("clf",), {"class_weight": {"a": 1, "b": 1, "B": 9}}, Y, ValueError,
     r"class_weight names \['B'\], which are not classes of y; the classes are \['a', 'b'\]"),
    ("class-weight-unknown", ("clf",), {"class_weight": {"a": 2, "zzz": 3}}, Y, ValueError,
     r"class_weight names \['zzz'\], which are not classes of y"),
    ("threshold-dict", ("mlh",), {"threshold": {"m1": 0.3}}, Y, ValueError,
     r"threshold=\{'m1': 0\.3\} is a dict; give one value per label as a list"),
    ("class-weight-dict", ("mlh",), {"class_weight": {"m1": 2}}, Y, ValueError,
     r"class_weight=\{'m1': 2\} is a dict; give one value per label as a list"),
]
_WHEN = r"has when=\('c', \['zzz'\]\), but \['zzz'\] never occur in column 'c' of y; its "
_WHEN += r"classes are \['a', 'b'\]"
_NAN_LABEL = r"Label columns \['m2'\] of MultiLabelHead.* are missing \(NaN\) on every row"
_MIX = r"Mix of label input types \(string and number\) in ClassificationHead"


#: The columns of a conditional head of each kind (beside a ClassificationHead on "c")
COND = {"reg": "v", "clf": "m1", "mlh": ["m1", "m2"]}


def _cond(kind, cls=MultiTaskEstimator, **params):
    head = KINDS[kind][1](COND[kind], **params)
    return lambda: mt(("x", head), ("c", ClassificationHead("c")), cls=cls)


_BOTH = (("mt", MultiTaskEstimator), ("sep", SeparateNetworks))


CASES = _families(COLUMN_ROWS + DUP_ROWS + TARGET_ROWS + CLASS_WEIGHT_ROWS) + [
    *[(f"{est}-{kind}-when-never", _cond(kind, cls, when=("c", ["zzz"])), X, Y, ValueError,
       _WHEN) for kind in ALL for est, cls in _BOTH],
    *[(f"{est}-{kind}-when-one-never", _cond(kind, cls, when=("c", ["a", "A"])), X, Y,
       ValueError, r"but \['A'\] never occur in column 'c' of y") for kind in ALL
      for est, cls in _BOTH],
    *[(f"{est}-{kind}-otherwise-list", _cond(kind, cls, when=("c", ["a"]), otherwise=[1, 2]), X,
       Y, ValueError, r"otherwise=\[1, 2\] must be one value .* it is not broadcast")
      for kind in ALL for est, cls in _BOTH],
    *[(f"{est}-mlh-all-nan-label", _pair("mlh", cls), X, _y(m2=np.nan), ValueError, _NAN_LABEL)
      for est, cls in (("mt", MultiTaskEstimator), ("sep", SeparateNetworks))],
    *[(f"{est}-clf-mixed-labels", _pair("clf", cls), X, _y(c=np.array([1, "b"] * 30, object)),
       ValueError, _MIX) for est, cls in (("mt", MultiTaskEstimator), ("sep", SeparateNetworks))],
    *[(f"{est}-head-name-{case}", lambda cls=cls, n=n: mt((n, RegressionHead("v")), cls=cls), X,
       Y, ValueError, r"head names of \w+ must be distinct non-empty strings of ASCII letters.*"
       + rf"without '__' or '/'; got {n!r}\. Rename it, e\.g\. {fix!r}")
      for est, cls in _BOTH for case, n, fix in (("space", "my head", "my_head"),
                                                 ("umlaut", "größe", "gr_e"),
                                                 ("slash", "a/b", "a_b"))],
    ("ml-all-nan-label", ml, X, pd.DataFrame({"a": Y.m1, "b": np.nan}), ValueError,
     r"Label columns \['b'\] of MultiLabelHead.* are missing \(NaN\) on every row"),
    ("ml-class-weight-dict", lambda: ml(class_weight={"a": 2}), X, YM, ValueError,
     r"class_weight=\{'a': 2\} is a dict; give one value per label"),
    ("ml-threshold-dict", lambda: ml(threshold={"a": 0.2}), X, YM, ValueError,
     r"threshold=\{'a': 0\.2\} is a dict; give one value per label"),
    ("joint-datetime-label", joint, X, pd.DataFrame({"v": Y.v, "c": _DAYS}), TypeError,
     r"ClassificationHead .*the target holds .*not targets"),
    ("joint-datetime-target", joint, X, pd.DataFrame({"v": _DAYS, "c": Y.c}), TypeError,
     r"RegressionHead \(column 0 of y\): the target holds .*datetime64.*not targets"),
    ("joint-mixed-labels", joint, X, pd.DataFrame({"v": Y.v, "c": [1, "b"] * 30}), ValueError,
     r"Mix of label input types \(string and number\)"),
    *[(f"{est}-mlh-{case}-labels", _pair("mlh", cls), X, _y(m1=v), TypeError, _UNSTORABLE)
      for est, cls in _BOTH for case, v in (("datetime", _DAYS), ("timedelta", _DAYS - _DAYS[0]))],
    ("mt-loss-weights-dict", lambda: mt(("v", RegressionHead("v")), ("c", ClassificationHead("c")),
                                        loss_weights={"v": 2}), X, Y, ValueError,
     r"The 'loss_weights' parameter of MultiTaskEstimator must be 'auto' or None; got "
     r"\{'v': 2\}\. A fixed weight per head is that head's loss_weight: "
     r"set_params\(heads__v__loss_weight=2\)"),
    ("mt-loss-weights-list", lambda: mt(("v", RegressionHead("v")), ("c", ClassificationHead("c")),
                                        loss_weights=[1, 3]), X, Y, ValueError,
     r"set_params\(heads__v__loss_weight=1, heads__c__loss_weight=3\)"),
    ("ml-all-empty-label-sets", ml, X, [set()] * 60, ValueError,
     r"Every label set of y is empty \(MultiLabelHead.*\): there is no label to learn"),
    *[(f"{est}-mlh-all-empty-label-sets", lambda cls=cls: mt(("m", MultiLabelHead()), cls=cls),
       X, [set()] * 60, ValueError, r"Every label set of y is empty") for est, cls in _BOTH],
    ("mt-heads-one-tuple", lambda: mt(("a",)), X, Y, ValueError,
     r"The 'heads' parameter of MultiTaskEstimator must be a list of \(name, head\) tuples"),
    ("mt-duplicate-int-labels", lambda: mt(("a", RegressionHead(1)), ("b", RegressionHead(0))),
     X, pd.DataFrame(np.c_[X[:, :2], X[:, 2]], columns=[1, 0, 1]), ValueError,
     "y has duplicate column names 1"),
    ("ml-duplicate-names", ml, X, pd.DataFrame(YM, columns=["a", "a"]), ValueError,
     "y has duplicate column names 'a'"),
]


def _same(given, copy_):
    if isinstance(given, pd.DataFrame):
        return given.equals(copy_)
    return pd.Series(np.asarray(given, dtype=object).ravel()).equals(
        pd.Series(np.asarray(copy_, dtype=object).ravel()))


@pytest.mark.parametrize("make, X_, y_, exc, match",
                         [pytest.param(*row[1:], id=row[0]) for row in CASES])
def test_bad_target_input_at_fit(make, X_, y_, exc, match):
    X_copy, y_copy = copy.deepcopy(X_), copy.deepcopy(y_)
    est = make()
    with pytest.raises(exc, match=match):
        est.fit(X_, y_)
    assert not hasattr(est, "model_")
    assert _same(y_, y_copy) and _same(X_, X_copy)  # the caller's data is untouched


@pytest.mark.parametrize("cls", [MultiTaskEstimator, SeparateNetworks])
def test_partial_fit_classes_naming_no_head(cls):
    est = mt(("c", ClassificationHead("c")), ("v", RegressionHead("v")), cls=cls)
    with pytest.raises(ValueError, match=r"classes=\{'cc': \['a', 'b'\]\} names \['cc'\], "
                       r"which are not heads of \w+; its heads are \['c', 'v'\]"):
        est.partial_fit(X, Y, classes={"cc": ["a", "b"]})
    assert not hasattr(est, "model_")


def test_string_labels_match_class_weight_keys():
    y = _y(c=np.where(X[:, 1] > 0, "1", "2"))
    est = mt(("c", ClassificationHead("c", class_weight={"1": 3, "2": 1})),
             ("v", RegressionHead("v"))).fit(X, y)
    assert est.heads_[0][1].class_weight_.tolist() == [3.0, 1.0]


@pytest.mark.parametrize("cls", [MultiTaskEstimator, SeparateNetworks])
def test_set_params_of_the_default_trunk_says_pass_a_trunk(cls):
    est = cls([("c", ClassificationHead("c"))])
    with pytest.raises(ValueError, match=r"Invalid parameter 'trunk__hidden_layer_sizes' .* "
                       r"trunk=None .* pass trunk=MLPTrunk\(\.\.\.\)"):
        est.set_params(trunk__hidden_layer_sizes=(3,))
    est.set_params(trunk=MLPTrunk()).set_params(trunk__hidden_layer_sizes=(3,))
    assert est.trunk.hidden_layer_sizes == (3,)


def _no_argument():
    return None


def _two_arguments(input_shape, units):
    return None


def _returns_array(input_shape):
    return np.zeros(input_shape)


def _returns_function(input_shape):
    return lambda inputs: inputs


_ARGS = r"KerasTrunk's build_fn=.* must take the input shape as its one argument"
_RETURNS = r"KerasTrunk's build_fn must return a Keras model or layer .* it returned {}"


@pytest.mark.parametrize("build_fn, exc, match", [
    (_no_argument, TypeError, _ARGS + r".* its signature is \(\)"),
    (_two_arguments, TypeError, _ARGS + r".* its signature is \(input_shape, units\)"),
    (_returns_array, ValueError, _RETURNS.format("ndarray")),
    (_returns_function, ValueError, _RETURNS.format("function")),
    (None, ValueError, r"KerasTrunk of \w+ has build_fn=None .* "
     r"est\.set_params\(trunk__build_fn=my_build_fn\)"),
])
@pytest.mark.parametrize("cls", [MultiTaskEstimator, SeparateNetworks])
def test_bad_keras_trunk_build_fn(cls, build_fn, exc, match):
    est = cls([("c", ClassificationHead("c"))], trunk=KerasTrunk(build_fn), epochs=1)
    with pytest.raises(exc, match=match):
        est.fit(X, Y[["c"]])
    assert not hasattr(est, "model_")


def test_at_least_100_rows():
    assert len(CASES) >= 100


# -- columns by label: what a head takes, and where its predictions land ----------

def test_int_labels_are_labels_not_positions():
    small, big = np.linspace(0, 1, 60), np.linspace(1000, 2000, 60)
    y = pd.DataFrame({1: small, 0: big})
    est = mt(("a", RegressionHead(columns=1)), ("b", RegressionHead(columns=0))).fit(X, y)
    assert np.isclose(est.heads_[0][1].mean_[0], small.mean())
    assert list(est.predict(X).columns) == [1, 0]


def test_multiindex_columns_by_tuple():
    y = pd.DataFrame(np.c_[X[:, 0], X[:, 1] * 100],
                     columns=pd.MultiIndex.from_tuples([("a", "x"), ("b", "y")]))
    est = mt(("s", RegressionHead(("b", "y"))), ("t", RegressionHead([("a", "x")]))).fit(X, y)
    assert np.isclose(est.heads_[0][1].mean_[0], y[("b", "y")].mean())
    assert list(est.predict(X).columns) == [("a", "x"), ("b", "y")]


@pytest.mark.parametrize("frame", [True, False])
def test_head_columns_in_another_order_than_y_predict_in_the_right_columns(frame):
    length, weight = np.linspace(0, 1, 60), np.linspace(1000, 2000, 60)
    y = pd.DataFrame({"length": length, "weight": weight})
    cols = ["weight", "length"] if frame else [1, 0]
    est = mt(("r", RegressionHead(cols)), epochs=1).fit(X, y if frame else y.to_numpy())
    pred = np.asarray(est.predict(X), dtype=float)
    # the network starts near the targets' means: each column near its own mean
    # (swapped, "length" would get about 1500 and "weight" about 0.5)
    assert abs(pred[:, 0].mean() - length.mean()) < 10
    assert abs(pred[:, 1].mean() - weight.mean()) < 400
