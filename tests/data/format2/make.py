"""Wrote tests/data/format2/ with mtestimator at format 2 (commit ababa4a): kept to show how; rerunning it with a later version writes that version's format."""
import numpy as np
import pandas as pd
from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier, MultiTaskEstimator
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.trunks import MLPTrunk

rng = np.random.RandomState(0)
X = rng.normal(size=(30, 4))
YM = (X[:, :3] + rng.normal(scale=0.5, size=(30, 3)) > 0).astype(int)
YJ = np.empty((30, 2), dtype=object)
YJ[:, 0], YJ[:, 1] = X[:, 0] * 3, np.where(X[:, 1] > 0, "a", "b")
Y3 = pd.DataFrame({"length": X[:, 0], "species": np.where(X[:, 2] > 0, "ant", "bee"),
                   "a": YM[:, 0], "b": YM[:, 1]})
fast = dict(epochs=2, random_state=0)
ests = {
    "mte": (MultiTaskEstimator([("size", RegressionHead(columns="length")),
                                ("species", ClassificationHead(columns="species")),
                                ("tags", MultiLabelHead(columns=["a", "b"]))],
                               trunk=MLPTrunk((4,)), **fast), Y3),
    "joint": (JointRegressorClassifier(hidden_layer_sizes=(4,), **fast), YJ),
    "ml": (MultiLabelMLPClassifier(hidden_layer_sizes=(4,), **fast), YM),
}
out = {"X": X}
for name, (est, y) in ests.items():
    est.fit(X, y)
    est.save(f"tests/data/format2/{name}.mtest")
    pred = est.predict(X)
    pred = pred.to_numpy() if isinstance(pred, pd.DataFrame) else np.asarray(pred)
    out[f"{name}_predict"] = pred.astype(str) if pred.dtype == object else pred
    proba = est.predict_proba(X)
    for i, p in enumerate(proba if isinstance(proba, list) else [proba]):
        out[f"{name}_proba{i}"] = np.asarray(p)
np.savez("tests/data/format2/expected.npz", **out)
print({k: (v.shape, v.dtype) for k, v in out.items()})
