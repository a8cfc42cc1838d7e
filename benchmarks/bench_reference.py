"""The abalone reference protocol, variant by variant (README table).

REFERENCE.md section 1 through the scikit-learn API: abalone,
``train_test_split(test_size=0.33, random_state=1)``, JointRegressorClassifier
defaults (150 epochs), mean ± std over seeds 0, 1, 2 of the test MAE and
accuracy; with and without the ``sex`` column (one-hot), with and without
target scaling and ``loss_weights="auto"``.

Run: ``python -m benchmarks.bench_reference``.
"""

import time

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.metrics import accuracy_score, mean_absolute_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mtestimator import JointRegressorClassifier
from mtestimator.datasets import load_abalone

VARIANTS = {
    "no sex, unscaled target": (False, {"scale_regression_target": False}),
    "no sex, scaled target (default)": (False, {}),
    "no sex, unscaled, auto": (False, {"scale_regression_target": False,
                                       "loss_weights": "auto"}),
    "no sex, scaled, auto": (False, {"loss_weights": "auto"}),
    "sex one-hot, unscaled": (True, {"scale_regression_target": False}),
    "sex one-hot, scaled (default)": (True, {}),
    "sex one-hot, scaled, auto": (True, {"loss_weights": "auto"}),
}


def benchmark(seeds=(0, 1, 2)):
    data = load_abalone(as_frame=True)
    y = np.column_stack([data.target.to_numpy(float), data.target.to_numpy()])
    X_train, X_test, y_train, y_test = train_test_split(data.data, y, test_size=0.33,
                                                        random_state=1)
    drop = ColumnTransformer([("drop", "drop", ["sex"])], remainder="passthrough")
    onehot = ColumnTransformer([("sex", OneHotEncoder(), ["sex"])], remainder="passthrough")
    lines = ["| variant | test MAE | accuracy | fit s |", "|---|---|---|---|"]
    for name, (with_sex, params) in VARIANTS.items():
        maes, accs, fits = [], [], []
        for seed in seeds:
            model = make_pipeline(onehot if with_sex else drop,
                                  JointRegressorClassifier(random_state=seed, **params))
            start = time.perf_counter()
            model.fit(X_train, y_train)
            fits.append(time.perf_counter() - start)
            pred = model.predict(X_test)
            maes.append(mean_absolute_error(y_test[:, 0], pred[:, 0]))
            accs.append(accuracy_score(y_test[:, 1], pred[:, 1]))
        lines.append(f"| {name} | {np.mean(maes):.3f} ± {np.std(maes):.3f} | "
                     f"{np.mean(accs):.3f} ± {np.std(accs):.3f} | {np.mean(fits):.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(benchmark())
