"""summary(), plot_network() and the HTML repr: looking at a network."""

import importlib.util
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier, MultiTaskEstimator
from mtestimator import _diagram, _inspect
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.trunks import MLPTrunk

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HAS_GRAPHVIZ = (importlib.util.find_spec("pydot") is not None
                and shutil.which("dot") is not None)
needs_graphviz = pytest.mark.skipif(
    not HAS_GRAPHVIZ,
    reason="plot_network needs pydot (pip install pydot) and Graphviz's `dot` program "
           "(apt-get install graphviz); one of them is missing here")


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 5))
    y = pd.DataFrame({
        "length": X[:, 0] * 2 + 1,
        "weight": X[:, 1] - X[:, 2],
        "kind": np.array(["a", "b", "c"])[rng.randint(0, 3, len(X))],
        "red": (X[:, 3] > 0).astype(int),
        "big": (X[:, 4] > 0).astype(int),
        "old": rng.randint(0, 2, len(X)),
    })
    return X, y


def three_heads(**kwargs):
    return MultiTaskEstimator(
        heads=[("size", RegressionHead(columns=["length", "weight"])),
               ("kind", ClassificationHead(columns="kind", loss_weight=0.5)),
               ("tags", MultiLabelHead(columns=["red", "big", "old"]))],
        trunk=MLPTrunk(hidden_layer_sizes=(6,)), epochs=3, random_state=0, **kwargs)


@pytest.fixture(scope="module")
def three(data):
    X, y = data
    return three_heads().fit(X, y)


@pytest.fixture(scope="module")
def joint_auto(data):
    X, y = data
    return JointRegressorClassifier(hidden_layer_sizes=(5,), loss_weights="auto", epochs=3,
                                    early_stopping=True, n_iter_no_change=5,
                                    random_state=0).fit(X, y[["length", "kind"]])


@pytest.fixture(scope="module")
def multilabel(data):
    X, y = data
    return MultiLabelMLPClassifier(hidden_layer_sizes=(4,), epochs=3,
                                   random_state=0).fit(X, y[["red", "big", "old"]].to_numpy())


def rows(text):
    """The table's rows by head name, each a list of cells (split on 2+ spaces)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("head "))
    header = re.split(r"\s{2,}", lines[start].strip())
    out = {}
    for line in lines[start + 2:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        assert len(cells) == len(header), line
        out[cells[0]] = dict(zip(header, cells))
    return out


def total_line(text):
    return next(line for line in text.splitlines() if line.startswith("Total parameters"))


def number(cell):
    return int(cell.replace(",", ""))


# -- summary -------------------------------------------------------------------------


def test_summary_three_heads(three):
    text = three.summary(print_fn=None)
    assert text.splitlines()[0] == "MultiTaskEstimator: one network, 3 heads (fitted, 3 epochs)"
    assert "Trunk: MLPTrunk(hidden_layer_sizes=(6,))" in text
    table = rows(text)
    assert list(table) == ["size", "kind", "tags"]
    assert table["size"] == {
        "head": "size", "columns": "length, weight", "units": "2", "activation": "linear",
        "loss": "mean_squared_error", "loss weight": "1", "metric": "r2_score",
        "parameters": "14", "train loss": table["size"]["train loss"]}
    assert table["kind"]["columns"] == "kind"
    assert (table["kind"]["units"], table["kind"]["activation"]) == ("3", "softmax")
    assert table["kind"]["loss"] == "sparse_categorical_crossentropy"
    assert table["kind"]["loss weight"] == "0.5"
    assert table["kind"]["metric"] == "accuracy_score"
    assert table["tags"]["columns"] == "red, big, old"
    assert (table["tags"]["units"], table["tags"]["activation"]) == ("3", "sigmoid")
    assert table["tags"]["loss"] == "binary_crossentropy"
    for name in table:  # the last epoch's loss of each head, no validation column
        assert float(table[name]["train loss"]) == pytest.approx(
            three.history_[f"{name}_loss"][-1], rel=1e-3)
    assert "val loss" not in text


def test_summary_parameter_counts_add_up(three):
    text = three.summary(print_fn=None)
    model = three.model_
    table = rows(text)
    for name in table:
        assert number(table[name]["parameters"]) == model.get_layer(name).count_params()
    trunk = sum(layer.count_params() for layer in model.layers
                if layer.name.startswith("trunk_"))
    assert f"{trunk} parameters (shared by the heads)" in text
    heads = sum(number(r["parameters"]) for r in table.values())
    assert total_line(text) == (f"Total parameters: {model.count_params():,} "
                                f"(trunk {trunk:,} + heads {heads:,})")
    assert trunk + heads == model.count_params()


def test_summary_joint_preset_learned_weights(joint_auto):
    est = joint_auto
    text = est.summary(print_fn=None)
    table = rows(text)
    assert list(table) == ["regression", "classification"]
    for (name, row), learned in zip(table.items(), est.loss_weights_):
        assert row["loss weight"] == f"auto (learned: {learned:.2f})"
        assert float(row["val loss"]) == pytest.approx(est.history_[f"val_{name}_loss"][-1],
                                                       rel=1e-3)
    assert table["regression"]["columns"] == "0"
    assert table["classification"]["units"] == "3"
    assert "kernel_initializer='he_normal'" in text.splitlines()[1]
    # one learned log-variance per head, counted in the total
    trunk = sum(layer.count_params() for layer in est.model_.layers
                if layer.name.startswith("trunk_"))
    heads = sum(number(r["parameters"]) for r in table.values())
    assert total_line(text) == (f"Total parameters: {est.model_.count_params():,} "
                                f"(trunk {trunk:,} + heads {heads:,} + learned loss "
                                "weights 2)")
    assert "loss_weights='auto'" in text
    # the user's step: the train loss of a cross-entropy head is its own (unweighted) loss
    assert float(table["classification"]["train loss"]) > 0
    assert "losses above are each head's own loss L, unweighted" in " ".join(text.split())


def test_summary_multilabel_preset(multilabel):
    text = multilabel.summary(print_fn=None)
    assert text.startswith("MultiLabelMLPClassifier: one network, 1 head (fitted, 3 epochs)")
    (row,) = rows(text).values()
    assert row["head"] == "labels"
    assert row["columns"] == "all of y"
    assert (row["units"], row["activation"], row["loss"]) == ("3", "sigmoid",
                                                               "binary_crossentropy")
    assert number(row["parameters"]) == 4 * 3 + 3
    assert total_line(text).startswith(
        f"Total parameters: {multilabel.model_.count_params():,} (")


def test_summary_prints_by_default(three, capsys):
    assert three.summary() is None
    assert capsys.readouterr().out == three.summary(print_fn=None) + "\n"
    seen = []
    assert three.summary(print_fn=seen.append) is None
    assert seen == [three.summary(print_fn=None)]


def test_summary_loss_object_and_weight_names(data):
    X, y = data
    est = MultiTaskEstimator(
        heads=[("tags", MultiLabelHead(columns=["red", "big", "old"], class_weight="balanced")),
               ("size", RegressionHead(columns="length", loss_weight=2.5))],
        trunk=MLPTrunk(hidden_layer_sizes=(3,)), epochs=1, random_state=0).fit(X, y)
    table = rows(est.summary(print_fn=None))
    assert table["tags"]["loss"] == "weighted_binary_crossentropy"  # a Keras Loss object
    assert table["size"]["loss weight"] == "2.5"
    assert table["size"]["columns"] == "length"


@pytest.mark.parametrize("est", [
    three_heads(), JointRegressorClassifier(), MultiLabelMLPClassifier()],
    ids=["MultiTaskEstimator", "JointRegressorClassifier", "MultiLabelMLPClassifier"])
def test_unfitted_raises_not_fitted(est, tmp_path):
    with pytest.raises(NotFittedError):
        est.summary()
    with pytest.raises(NotFittedError):
        est.plot_network(tmp_path / "network.png")


def test_columns_text_is_short():
    assert _inspect._columns_text(None) == "all of y"
    assert _inspect._columns_text(3) == "3"
    assert _inspect._columns_text(["a", "b"]) == "a, b"
    many = [f"label_{i}" for i in range(12)]
    text = _inspect._columns_text(many)
    assert text == "label_0, ... (12 columns)"
    assert len(text) <= _inspect._COLUMNS_WIDTH


def test_early_stopping_note():
    history = {"loss": [3.0, 2.0, 1.0, 0.9], "val_loss": [2.0, 1.0, 1.5, 1.6]}
    notes = _inspect._notes(SimpleNamespace(), history, auto=False)
    assert "Early stopping kept the weights of epoch 2 (lowest val_loss)." in notes
    kept = _inspect._notes(SimpleNamespace(best_epoch_=3), history, auto=False)
    assert not any("Early stopping" in note for note in kept)  # the last epoch was kept


# one network per head (a SeparateNetworks-like estimator) ---------------------------


class FakeModel:
    def __init__(self, n):
        self.n = n

    def count_params(self):
        return self.n


class FakeSeparate:
    """What summary reads from an estimator with one network per head."""

    def __init__(self):
        size = RegressionHead(columns=["length", "weight"])
        size.output_units_, size.output_activation_ = 2, "linear"
        size.loss_ = "mean_squared_error"
        kind = ClassificationHead(columns="kind")
        kind.output_units_, kind.output_activation_ = 3, "softmax"
        kind.loss_ = "sparse_categorical_crossentropy"
        self.heads_ = [("size", size), ("kind", kind)]
        self.trunk_ = MLPTrunk(hidden_layer_sizes=(8,))
        self.estimators_ = [("size", SimpleNamespace(model_=FakeModel(66))),
                            ("kind", SimpleNamespace(model_=FakeModel(1075)))]
        self.history_ = {"size_loss": [0.9, 0.5], "kind_loss": [1.2, 1.0]}
        self.n_iter_ = 2


def test_summary_one_network_per_head():
    text = _inspect.summary(FakeSeparate(), print_fn=None)
    assert text.splitlines()[0] == "FakeSeparate: 2 networks, one per head (fitted, 2 epochs)"
    assert "Trunk: MLPTrunk(hidden_layer_sizes=(8,))" in text
    table = rows(text)
    assert table["size"]["parameters"] == "66"
    assert table["kind"]["parameters"] == "1,075"
    assert (table["kind"]["units"], table["kind"]["loss"]) == (
        "3", "sparse_categorical_crossentropy")
    assert table["size"]["train loss"] == "0.5"
    assert table["kind"]["train loss"] == "1"
    assert total_line(text) == "Total parameters: 1,141 (size 66 + kind 1,075)"


def test_summary_one_network_per_head_defensive():
    # no heads_, no trunk, no history: the per-network histories, blanks elsewhere
    est = SimpleNamespace(estimators_=[
        ("a", SimpleNamespace(model_=FakeModel(10),
                              history_={"loss": [2.0, 1.5], "val_loss": [2.5, 2.25]})),
        ("b", SimpleNamespace())])
    text = _inspect.summary(est, print_fn=None)
    table = rows(text)
    assert table["a"]["train loss"] == "1.5"
    assert table["a"]["val loss"] == "2.25"
    assert table["b"]["parameters"] == "0"
    assert table["b"]["train loss"] == "-"
    assert total_line(text) == "Total parameters: 10 (a 10 + b 0)"


def test_summary_of_separate_networks(data):
    import mtestimator

    if not hasattr(mtestimator, "SeparateNetworks"):
        pytest.skip("mtestimator has no SeparateNetworks yet")
    X, y = data
    est = mtestimator.SeparateNetworks(
        heads=[("size", RegressionHead(columns=["length", "weight"])),
               ("kind", ClassificationHead(columns="kind"))],
        trunk=MLPTrunk(hidden_layer_sizes=(3,)), epochs=2, random_state=0)
    with pytest.raises(NotFittedError):
        est.summary()
    text = est.fit(X, y).summary(print_fn=None)
    table = rows(text)
    assert list(table) == ["size", "kind"]
    counts = [sub.model_.count_params() for _, sub in est.estimators_]
    assert [number(r["parameters"]) for r in table.values()] == counts
    assert total_line(text).startswith(f"Total parameters: {sum(counts):,} (")
    assert float(table["kind"]["train loss"]) == pytest.approx(
        est.history_["kind_loss"][-1], rel=1e-3)
    with pytest.raises(TypeError, match="one network per head"):
        est.plot_network()


def test_plot_network_one_network_per_head_says_what_to_do(tmp_path):
    with pytest.raises(TypeError, match="one network per head"):
        _diagram.plot_network(FakeSeparate(), to_file=tmp_path / "n.png")


# -- plot_network ----------------------------------------------------------------------


@needs_graphviz
def test_plot_network_writes_png(three, tmp_path):
    path = three.plot_network(tmp_path / "three.png", dpi=48)
    assert path == str(tmp_path / "three.png")
    assert (tmp_path / "three.png").read_bytes()[:8] == PNG_SIGNATURE


@needs_graphviz
def test_plot_network_default_file_and_kwargs(joint_auto, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert joint_auto.plot_network(dpi=48) == "network.png"
    assert (tmp_path / "network.png").read_bytes()[:8] == PNG_SIGNATURE
    svg = joint_auto.plot_network("network.svg", show_shapes=False)  # user kwargs win
    text = (tmp_path / svg).read_text()
    assert "<svg" in text and "classification_uncertainty" in text
    assert "Output shape" not in text and "Activation" in text


@pytest.mark.parametrize("pydot, dot, missing", [
    (False, True, "pydot"), (True, False, "Graphviz"), (False, False, "pydot and Graphviz")])
def test_plot_network_without_pydot_or_graphviz(three, tmp_path, monkeypatch, pydot, dot,
                                                missing):
    monkeypatch.setattr(_diagram, "_has_pydot", lambda: pydot)
    monkeypatch.setattr(_diagram, "_has_dot", lambda: dot)
    with pytest.raises(ImportError) as info:
        three.plot_network(tmp_path / "n.png")
    message = str(info.value)
    assert missing in message
    for how in ("pip install pydot", "apt-get install graphviz", "brew install graphviz",
                "conda install graphviz"):
        assert how in message
    assert not (tmp_path / "n.png").exists()


def test_plot_network_raises_when_keras_only_prints(three, tmp_path, monkeypatch):
    # Keras, in a notebook, prints "You must install pydot" and returns None
    import keras

    monkeypatch.setattr(_diagram, "_has_pydot", lambda: True)
    monkeypatch.setattr(_diagram, "_has_dot", lambda: True)
    monkeypatch.setattr(keras.utils, "plot_model", lambda *args, **kwargs: None)
    with pytest.raises(ImportError, match="wrote no file.*pip install pydot"):
        three.plot_network(tmp_path / "n.png")
    stale = tmp_path / "stale.png"
    stale.write_bytes(PNG_SIGNATURE)
    with pytest.raises(ImportError, match="wrote no file"):
        three.plot_network(stale)


# -- the HTML repr ---------------------------------------------------------------------


def labels(html):
    html = re.sub(r"<style>.*?</style>|<script>.*?</script>", "", html, flags=re.S)
    return re.findall(r"<div><div>([^<]*)</div>", html)


def test_html_repr_shows_trunk_and_heads(three):
    for est in (three_heads(), three):  # unfitted, fitted
        html = est._repr_html_()
        assert labels(html) == ["MultiTaskEstimator", "MLPTrunk", "heads",
                                "size", "RegressionHead", "kind", "ClassificationHead",
                                "tags", "MultiLabelHead"]
        # parameter names as get_params spells them, for the copy buttons
        assert 'data-param-prefix="heads__kind__"' in html
        assert 'data-param-prefix="trunk__"' in html


def test_html_repr_default_trunk_and_fitted_parts(three):
    est = MultiTaskEstimator(heads=[("y", RegressionHead())])  # trunk=None: MLPTrunk()
    assert labels(est._repr_html_())[:2] == ["MultiTaskEstimator", "MLPTrunk"]
    block = _diagram.visual_block(three)
    assert block.estimators[0] is three.trunk_
    assert block.estimators[1].estimators == [head for _, head in three.heads_]


def test_html_repr_of_invalid_heads_does_not_fail():
    html = MultiTaskEstimator(heads="not heads")._repr_html_()
    assert "MultiTaskEstimator" in html


@pytest.mark.parametrize("est, names", [
    (JointRegressorClassifier(), ["regression", "classification"]),
    (MultiLabelMLPClassifier(), ["labels"])], ids=["joint", "multilabel"])
def test_visual_block_of_presets(est, names):
    block = _diagram.visual_block(est)
    assert type(block.estimators[0]).__name__ == "MLPTrunk"
    assert list(block.estimators[1].names) == names
