"""Targets as users have them: missing labels, conditional heads, every dtype, weights."""

import functools

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.metrics import accuracy_score, mean_absolute_error
from sklearn.model_selection import KFold, cross_validate

from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier, MultiTaskEstimator
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.metrics import make_head_scorer
from mtestimator.trunks import MLPTrunk

rng = np.random.RandomState(0)
N = 1000
X = rng.normal(size=(N, 6))
TRUTH = pd.DataFrame({
    "value": 2 * X[:, 0] + X[:, 1],
    "cls": np.array(["a", "b", "c"])[np.digitize(X[:, 2] + X[:, 0], [-0.5, 0.5])],
    "l1": (X[:, 3] > 0).astype(float),
    "l2": (X[:, 4] + X[:, 0] > 0).astype(float),
    "l3": (X[:, 5] > 0).astype(float),
})
HEADS = [("value", RegressionHead("value")), ("cls", ClassificationHead("cls")),
         ("labels", MultiLabelHead(["l1", "l2", "l3"]))]


def net(heads, epochs=60, **kw):
    return MultiTaskEstimator(heads, trunk=MLPTrunk((32,)), epochs=epochs, random_state=0,
                              **kw)


def _partial(y, seed=1):
    """60% of the classes, 30% of the values and 20% of label l1 missing."""
    r = np.random.RandomState(seed)
    y = y.copy()
    y["cls"] = y["cls"].astype(object)
    y.loc[r.rand(len(y)) < 0.6, "cls"] = None
    y.loc[r.rand(len(y)) < 0.3, "value"] = np.nan
    y.loc[r.rand(len(y)) < 0.2, "l1"] = np.nan
    return y


@pytest.mark.backend
def test_partial_labels_train_every_head_and_predict_every_row():
    y = _partial(TRUTH)
    train, test = slice(0, 800), slice(800, None)
    est = net(HEADS).fit(X[train], y[train])
    pred = est.predict(X[test])
    assert not pred.isna().any().any()  # every head for every row
    joint_accuracy = accuracy_score(TRUTH["cls"][test], pred["cls"])
    labelled = y["cls"][train].notna().to_numpy()
    alone = net([("cls", ClassificationHead())]).fit(X[train][labelled],
                                                     y["cls"][train][labelled])
    alone_accuracy = accuracy_score(TRUTH["cls"][test], alone.predict(X[test]))
    print(f"class accuracy: joint on all rows {joint_accuracy:.3f}, "
          f"alone on the labelled rows {alone_accuracy:.3f}")
    assert joint_accuracy >= alone_accuracy
    assert mean_absolute_error(TRUTH["value"][test], pred["value"]) < 0.5
    # the score skips missing targets instead of failing on them
    assert 0.5 < est.score(X[test], y[test]) <= 1


@pytest.mark.backend
def test_a_head_loss_does_not_scale_with_its_missing_rows():
    full = net(HEADS[:2], epochs=1).fit(X, TRUTH[["value", "cls"]])
    y = TRUTH[["value", "cls"]].copy()
    y.loc[::2, "value"] = np.nan  # half the values missing
    half = net(HEADS[:2], epochs=1).fit(X, y)
    ratio = half.history_["value_loss"][0] / full.history_["value_loss"][0]
    assert 0.7 < ratio < 1.4, ratio  # not halved


@pytest.mark.backend
def test_multi_output_regression_and_multilabel_mask_per_element():
    y = TRUTH.copy()
    y["value2"] = -TRUTH["value"]
    y.loc[::3, "value"] = np.nan  # rows with one of two outputs
    y.loc[1::3, "l2"] = np.nan
    est = net([("values", RegressionHead(["value", "value2"])),
               ("labels", MultiLabelHead(["l1", "l2", "l3"]))], epochs=30).fit(X, y)
    heads = est.named_heads_
    assert heads["values"].masked_ and heads["labels"].masked_
    assert type(heads["values"].build_loss()).__name__ == "MaskedLoss"
    np.testing.assert_allclose(heads["values"].mean_[0], np.nanmean(y["value"]))
    pred = est.predict(X)
    assert np.corrcoef(pred["value"], TRUTH["value"])[0, 1] > 0.95
    assert accuracy_score(TRUTH["l2"], pred["l2"]) > 0.85


def test_sample_weight_composes_with_the_mask():
    y = _partial(TRUTH)
    w = np.where(np.arange(N) < 500, 1.0, 0.0)
    a = net(HEADS, epochs=3).fit(X, y, sample_weight=w)
    b = net(HEADS, epochs=3).fit(X[:500], y[:500])
    pd.testing.assert_frame_equal(a.predict(X), b.predict(X))


def test_presets_take_missing_labels():
    y = np.column_stack([TRUTH["value"], TRUTH["cls"]]).astype(object)
    y[:300, 1] = None
    y[300:400, 0] = np.nan
    est = JointRegressorClassifier(epochs=5, random_state=0).fit(X, y)
    assert est.classes_.tolist() == ["a", "b", "c"]  # no 'None' or 'nan' class
    assert not pd.isna(est.predict(X)).any()
    labels = TRUTH[["l1", "l2", "l3"]].copy()
    labels.loc[rng.rand(N) < 0.2, "l1"] = np.nan
    ml = MultiLabelMLPClassifier(epochs=5, random_state=0).fit(X, labels)
    assert ml.predict(X).shape == (N, 3)


# -- conditional heads ---------------------------------------------------------

STATUS = np.where(X[:, 0] > 0, "paid", "open")
AMOUNT = np.where(STATUS == "paid", 3 * X[:, 1] + 5, 0.0)
YC = pd.DataFrame({"status": STATUS, "amount": AMOUNT})


def test_conditional_head_learns_its_rows_and_predicts_otherwise():
    train, test = slice(0, 800), slice(800, None)
    cond = net([("status", ClassificationHead("status")),
                ("amount", RegressionHead("amount", when=("status", ["paid"]),
                                          otherwise=0.0))]).fit(X[train], YC[train])
    plain = net([("status", ClassificationHead("status")),
                 ("amount", RegressionHead("amount"))]).fit(X[train], YC[train])
    pred, base = cond.predict(X[test]), plain.predict(X[test])
    outside = pred["status"] != "paid"
    assert outside.any() and (pred["amount"][outside] == 0.0).all()
    np.testing.assert_array_equal(cond.predict_head(X[test], "amount"), pred["amount"])
    mae_when = mean_absolute_error(YC["amount"][test], pred["amount"])
    mae_plain = mean_absolute_error(YC["amount"][test], base["amount"])
    print(f"conditional head MAE over all rows: with when {mae_when:.3f}, "
          f"without {mae_plain:.3f}")
    assert mae_when < mae_plain
    # the scaling was learned on the paid rows only
    head = cond.named_heads_["amount"]
    np.testing.assert_allclose(head.mean_, AMOUNT[train][STATUS[train] == "paid"].mean())
    default = net([("status", ClassificationHead("status")),
                   ("amount", RegressionHead("amount", when=("status", ["paid"])))],
                  epochs=2).fit(X, YC)
    out = default.predict(X)
    assert out["amount"][out["status"] != "paid"].isna().all()  # otherwise=NaN


@pytest.mark.parametrize("when, match", [
    (("kind", ["paid"]), "no unconditional ClassificationHead.*takes column 'kind'"),
    (("status", "paid"), "must be \\(column, list of values\\)"),
])
def test_conditional_head_errors(when, match):
    est = net([("status", ClassificationHead("status")),
               ("amount", RegressionHead("amount", when=when))], epochs=1)
    with pytest.raises(ValueError, match=match):
        est.fit(X, YC)


# -- target dtypes: one table ------------------------------------------------------

M = 120
XS = X[:M]
LABELS = np.array(["x", "y"])[(X[:M, 0] > 0).astype(int)]
INTS = (X[:M, 0] > 0).astype(int) + 1
VALUES = 3 * X[:M, 1]
IND = (X[:M, :3] > 0).astype(int)


def fit_one(head, y):
    return MultiTaskEstimator([("t", head)], trunk=MLPTrunk((4,)), epochs=2,
                              random_state=0).fit(XS, y)


@functools.lru_cache(maxsize=None)
def reference(kind):
    head, y = {"cls-str": (ClassificationHead(), LABELS), "cls-int": (ClassificationHead(), INTS),
               "cls-bool": (ClassificationHead(), INTS == 2),
               "reg": (RegressionHead(), VALUES), "ml": (MultiLabelHead(), IND)}[kind]
    return fit_one(head, y).predict(XS)


def _with_missing(values, dtype):
    s = pd.Series(values).astype(dtype)
    s.iloc[[3, 7]] = None
    return s


# (id, head, y, expected): expected names the plain-dtype fit whose
# predictions must match exactly ("kind:dtype" when the output dtype differs,
# e.g. bool labels come back bool), "missing" (trains, predicts every row),
# or (exception, pattern)
MISSING_ROWS = (ValueError, r"2 row\(s\) of y have no target for any head.*rows \[3, 7\]")
TARGET_CASES = [
    ("cls-object-strings", ClassificationHead(), LABELS.astype(object), "cls-str"),
    ("cls-series-category", ClassificationHead(), pd.Series(LABELS, dtype="category"),
     "cls-str"),
    ("cls-series-string-dtype", ClassificationHead(), pd.Series(LABELS, dtype="string"),
     "cls-str"),
    ("cls-nullable-Int64", ClassificationHead(), pd.Series(INTS, dtype="Int64"), "cls-int"),
    ("cls-float-integral", ClassificationHead(), INTS.astype(float), "cls-int:float64"),
    ("cls-nullable-boolean", ClassificationHead(), pd.Series(INTS == 2, dtype="boolean"),
     "cls-bool"),
    ("cls-column-vector", ClassificationHead(), LABELS[:, None], "cls-str"),
    # a missing target is detected in every dtype; with one head such a row
    # has no target at all, which is an error naming the rows
    ("cls-missing-None", ClassificationHead(), _with_missing(LABELS, object), MISSING_ROWS),
    ("cls-missing-pd.NA", ClassificationHead(), _with_missing(INTS, "Int64"), MISSING_ROWS),
    ("cls-missing-nan", ClassificationHead(), _with_missing(INTS.astype(float), float),
     MISSING_ROWS),
    ("reg-nullable-Float64", RegressionHead(), pd.Series(VALUES, dtype="Float64"), "reg"),
    ("reg-object-numbers", RegressionHead(), VALUES.astype(object), "reg"),
    ("reg-list", RegressionHead(), VALUES.tolist(), "reg"),
    ("reg-missing-None", RegressionHead(), _with_missing(VALUES, object), MISSING_ROWS),
    ("reg-missing-pd.NA", RegressionHead(), _with_missing(VALUES, "Float64"), MISSING_ROWS),
    ("ml-bool", MultiLabelHead(), IND.astype(bool), "ml:bool"),
    # nullable columns: predictions in their dtypes
    ("ml-dataframe-boolean", MultiLabelHead(), pd.DataFrame(IND.astype(bool)).astype("boolean"),
     "ml:boolean"),
    ("ml-dataframe-Int64", MultiLabelHead(), pd.DataFrame(IND).astype("Int64"), "ml:Int64"),
    ("ml-float", MultiLabelHead(), IND.astype(float), "ml"),
    ("ml-missing-row", MultiLabelHead(), np.where(np.arange(M)[:, None] == 3, np.nan, IND),
     (ValueError, r"1 row\(s\) of y have no target for any head.*rows \[3\]")),
    ("ml-missing-one-label", MultiLabelHead(),
     np.where((np.arange(M)[:, None] == 3) & (np.arange(3) == 0), np.nan, IND), "missing"),
    ("ml-series-of-sets", MultiLabelHead(),
     pd.Series([{j for j in range(3) if r[j]} for r in IND]), "sets"),
    ("ml-list-of-sets", MultiLabelHead(), [{j for j in range(3) if r[j]} for r in IND], "sets"),
    ("cls-continuous", ClassificationHead(), VALUES,
     (ValueError, "continuous values.*Use a RegressionHead")),
    ("cls-mixed-1-and-'1'", ClassificationHead(), np.array([1, "1"] * (M // 2), dtype=object),
     (ValueError, "mix numbers and strings.*astype\\(str\\)")),
    ("cls-inf", ClassificationHead(), np.where(np.arange(M) == 2, np.inf, INTS),
     (ValueError, "contain infinity")),
    ("cls-all-missing", ClassificationHead(), np.full(M, None, dtype=object),
     (ValueError, "every class label is missing")),
    ("cls-one-class", ClassificationHead(), np.full(M, "x"), (ValueError, "single class")),
    ("reg-inf", RegressionHead(), np.where(np.arange(M) == 2, np.inf, VALUES),
     (ValueError, "contains infinity")),
    ("reg-strings", RegressionHead(), LABELS, (ValueError, "must be numeric; got .*'[xy]'")),
    ("reg-all-missing", RegressionHead(), np.full(M, np.nan),
     (ValueError, "no value on any training row")),
    ("ml-two", MultiLabelHead(), IND * 2, (ValueError, "only 0 and 1.*\\[2\\]")),
    ("ml-strings", MultiLabelHead(), IND.astype(str), (ValueError, "only 0 and 1")),
    ("ml-1d", MultiLabelHead(), IND[:, 0], (ValueError, "2-D binary indicator matrix")),
]


@pytest.mark.parametrize("head, y, expected", [c[1:] for c in TARGET_CASES],
                         ids=[c[0] for c in TARGET_CASES])
def test_target_cases(head, y, expected):
    if isinstance(expected, tuple):
        with pytest.raises(expected[0], match=expected[1]):
            fit_one(head, y)
        return
    est = fit_one(head, y)
    pred = est.predict(XS)
    if expected == "missing":
        assert not pd.isna(pred).any()  # predicted for every row, missing or not
    elif expected == "sets":
        np.testing.assert_array_equal(pred, reference("ml"))
    else:
        kind, _, dtype = expected.partition(":")
        ref = np.asarray(reference(kind))
        np.testing.assert_array_equal(np.asarray(pred).astype(ref.dtype), ref)
        if dtype[:1].isupper() or dtype == "boolean":  # a pandas dtype, kept in a DataFrame
            assert (pred.dtypes == dtype).all()
        else:
            assert np.asarray(pred).dtype == np.dtype(dtype or ref.dtype)


def test_at_least_25_target_cases():
    assert len(TARGET_CASES) >= 25


def test_bool_labels_come_back_as_bool():
    est = fit_one(ClassificationHead(), INTS == 2)
    assert est.predict(XS).dtype == bool and est.classes_.dtype == bool
    ml = fit_one(MultiLabelHead(), IND.astype(bool))
    assert ml.predict(XS).dtype == bool
    frame = fit_one(ClassificationHead(), pd.Series(INTS == 2, dtype="boolean"))
    assert frame.predict(XS).dtype == bool


# -- weights ------------------------------------------------------------------------

def test_head_scorer_receives_sample_weight_under_metadata_routing():
    y = np.column_stack([TRUTH["value"][:300], TRUTH["cls"][:300]])
    w = np.random.RandomState(0).rand(300) * 5
    mae = make_head_scorer(mean_absolute_error, head="regression", greater_is_better=False)
    kw = {"cv": KFold(2), "params": {"sample_weight": w}}
    with sklearn.config_context(enable_metadata_routing=True):
        est = JointRegressorClassifier(epochs=5, random_state=0).set_fit_request(
            sample_weight=False)
        weighted = cross_validate(est, X[:300], y, scoring={
            "mae": mae.set_score_request(sample_weight=True)}, **kw)["test_mae"]
        unweighted = cross_validate(est, X[:300], y, cv=KFold(2), scoring={
            "mae": make_head_scorer(mean_absolute_error, head="regression",
                                    greater_is_better=False)})["test_mae"]
    assert not np.allclose(weighted, unweighted)
    assert "head='regression'" in repr(mae)


# -- dtypes and index: predictions in y's dtypes, rows in X's index ---------------------

XD = pd.DataFrame(X[:40, :3], columns=["f1", "f2", "f3"], index=np.arange(500, 540))
YD = pd.DataFrame({
    "kind": pd.Categorical(np.where(XD.f1 > 0, "hi", "lo"), categories=["lo", "hi", "mid"],
                           ordered=True),
    "count": pd.array(np.where(XD.f2 > 0, 1, 2), dtype="Int64"),
    "word": pd.array(np.where(XD.f3 > 0, "x", "y"), dtype="string"),
    "flag": pd.array(XD.f1 > XD.f2, dtype="boolean"),
    "t1": pd.array(XD.f1 > 0, dtype="boolean"), "t2": pd.array(XD.f2 > 0, dtype="boolean"),
    "size": XD.f1 * 2,
}, index=XD.index)
DTYPE_HEADS = [(c, ClassificationHead(c)) for c in ("kind", "count", "word", "flag")] + [
    ("tags", MultiLabelHead(["t1", "t2"])), ("size", RegressionHead("size"))]


@functools.cache
def _dtyped():
    """Fitted once per process (a module fixture may be set up again on another
    pytest-xdist batch)."""
    return net(DTYPE_HEADS, epochs=1).fit(XD, YD)


@pytest.fixture
def dtyped():
    return _dtyped()


def _same_dtypes(pred, y=YD):
    assert pred.dtypes.to_dict() == y[pred.columns].dtypes.to_dict()


def test_predictions_keep_y_dtypes_and_x_index(dtyped):
    pred = dtyped.predict(XD)
    _same_dtypes(pred)
    assert pred.index.equals(XD.index)
    assert pred["kind"].cat.categories.tolist() == ["lo", "hi", "mid"]
    assert pred["kind"].cat.ordered
    kind, tags = dtyped.predict_head(XD, "kind"), dtyped.predict_head(XD, "tags")
    assert isinstance(kind, pd.Series) and kind.name == "kind" and kind.dtype == YD.kind.dtype
    pd.testing.assert_series_equal(kind, pred["kind"])
    pd.testing.assert_frame_equal(tags, pred[["t1", "t2"]])
    # X with a new index: the predictions' rows follow it
    assert dtyped.predict_head(XD.reset_index(drop=True), "count").index.equals(
        pd.RangeIndex(40))
    for name in ("kind", "count", "word", "flag"):  # the user's step: mask by another column
        assert len(pred["size"][pred[name] == pred[name].iloc[0]]) >= 1


def test_dtypes_survive_pickle_save_and_load(dtyped, tmp_path):
    import pickle
    import mtestimator

    pred = dtyped.predict(XD)
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(dtyped)).predict(XD), pred)
    dtyped.save(tmp_path / "d.mtest")
    pd.testing.assert_frame_equal(mtestimator.load(tmp_path / "d.mtest").predict(XD), pred)


def test_dtype_restore_keeps_values_it_cannot_hold():
    from mtestimator._dtypes import restore

    cat = {"dtype": "category", "categories": ["a", "b"], "ordered": False}
    values = np.array(["a", "z"], dtype=object)  # e.g. a conditional head's otherwise
    assert restore(values, cat) is values
    floats = np.array([1.5, 2.0])
    assert restore(floats, {"dtype": "Int64"}) is floats
    assert restore(np.array([1.0, np.nan]), {"dtype": "Int64"}).dtype == "Int64"


def _rewrite(path, out, edit):
    import json
    import zipfile

    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["mtestimator.json"])
    edit(meta)
    members["mtestimator.json"] = json.dumps(meta)
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_saved_dtypes_are_checked_and_older_files_fall_back(dtyped, tmp_path):
    import mtestimator

    dtyped.save(tmp_path / "d.mtest")

    for value, match in [
            ([{"dtype": "object"}], r"target_dtypes_ is a list of 1 item; expected null or "
                                    r"a list of null"),
            ([None, None], r"target_dtypes_ has 2 entries; expected one per column of the "
                           r"head \(1\)")]:
        def damage(meta):
            meta["heads"][0][2]["target_dtypes_"] = value

        _rewrite(tmp_path / "d.mtest", tmp_path / "bad.mtest", damage)
        with pytest.raises(ValueError, match=r"heads\[0\].*" + match):
            mtestimator.load(tmp_path / "bad.mtest")

    def format4(meta):
        meta["version"] = 4
        for _, _, state in meta["heads"]:
            del state["target_dtypes_"]

    _rewrite(tmp_path / "d.mtest", tmp_path / "old.mtest", format4)
    pred = mtestimator.load(tmp_path / "old.mtest").predict(XD)
    assert pred["kind"].dtype == "str" and pred["count"].dtype == np.int64  # as before
    assert pred.index.equals(XD.index)
