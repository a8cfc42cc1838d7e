"""Draw docs/images/abalone_conformal.png: the conformal guide's picture.

Abalone (mtestimator.datasets; the data home must hold abalone.csv), a
MultiTaskEstimator with a rings head and a sex head, ConformalMultiTask
(split, 90%): left, the rings intervals of 150 test shells against their
true rings, sorted by prediction; right, the mean size of the sex sets
(APS) by true sex, and how often they hold it. Run from the repository
root: ``python docs/scripts/conformal_picture.py``.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from mtestimator import MultiTaskEstimator  # noqa: E402
from mtestimator.conformal import ConformalMultiTask  # noqa: E402
from mtestimator.datasets import load_abalone  # noqa: E402
from mtestimator.heads import ClassificationHead, RegressionHead  # noqa: E402


def main(path="docs/images/abalone_conformal.png"):
    abalone = load_abalone()
    y = pd.DataFrame({"rings": abalone.target.astype(float), "sex": abalone.sex})
    X_train, X_test, y_train, y_test = train_test_split(abalone.data, y, test_size=0.25,
                                                        random_state=0)
    est = make_pipeline(StandardScaler(), MultiTaskEstimator(
        heads=[("rings", RegressionHead("rings")), ("sex", ClassificationHead("sex"))],
        epochs=60, learning_rate=0.01, random_state=0))
    conformal = ConformalMultiTask(est, confidence_level=0.9, random_state=0)
    conformal.fit(X_train, y_train)
    bounds = conformal.predict_interval(X_test)["rings"]
    sets = conformal.predict_set(X_test)["sex"]
    pred = conformal.predict(X_test)["rings"].to_numpy()
    truth = y_test["rings"].to_numpy()

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), width_ratios=(2, 1))
    shown = np.random.default_rng(0).choice(len(truth), 150, replace=False)
    shown = shown[np.argsort(pred[shown])]
    x = np.arange(len(shown))
    inside = (bounds[shown, 0] <= truth[shown]) & (truth[shown] <= bounds[shown, 1])
    left.vlines(x, bounds[shown, 0], bounds[shown, 1], color="tab:blue", alpha=0.4,
                label="90% interval")
    left.plot(x, pred[shown], "_", color="tab:blue", label="prediction")
    left.plot(x[inside], truth[shown][inside], ".", color="black", label="true rings")
    left.plot(x[~inside], truth[shown][~inside], "x", color="tab:red", label="outside")
    covered = np.mean((bounds[:, 0] <= truth) & (truth <= bounds[:, 1]))
    left.set(xlabel="150 test shells, by predicted rings", ylabel="rings",
             title=f"rings: coverage {covered:.1%} of {len(truth)} test shells, "
                   f"mean width {np.mean(bounds[:, 1] - bounds[:, 0]):.1f}")
    left.legend(loc="upper left", fontsize=8)

    classes = dict(conformal.estimator_[-1].heads_)["sex"].classes_
    true_sex = y_test["sex"].to_numpy()
    size = [sets[true_sex == c].sum(axis=1).mean() for c in classes]
    hold = [sets[true_sex == c][:, i].mean() for i, c in enumerate(classes)]
    bars = right.bar([str(c) for c in classes], size, color="tab:orange")
    for bar, h in zip(bars, hold):
        right.annotate(f"holds it {h:.0%}", (bar.get_x() + bar.get_width() / 2,
                                             bar.get_height()),
                       ha="center", va="bottom", fontsize=8)
    right.set(xlabel="true sex (F, I infant, M)", ylabel="mean set size (of 3)",
              title="sex: 90% sets by class", ylim=(0, 3.3))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}: rings coverage {covered:.3f}; sex set sizes "
          f"{dict(zip(classes, np.round(size, 2)))}, coverage by class "
          f"{dict(zip(classes, np.round(hold, 3)))}")


if __name__ == "__main__":
    main()
