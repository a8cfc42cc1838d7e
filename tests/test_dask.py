"""Grid searches spread over a Dask cluster give the local results."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from mtestimator import JointRegressorClassifier

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

rng = np.random.RandomState(0)
X = rng.normal(size=(80, 4))
YJ = np.column_stack([X[:, 0] * 3, (X[:, 1] > 0).astype(int)])
GRID = {"hidden_layer_sizes": [(4,), (8,)], "learning_rate": [0.001, 0.01]}


@pytest.mark.slow
def test_grid_search_on_local_dask_cluster_matches_local_run():
    # one preset is enough: what travels (parameters, folds, fitted networks) is the same
    searches = [(JointRegressorClassifier(epochs=5, random_state=0), YJ)]
    local = [GridSearchCV(est, GRID, cv=2).fit(X, y).cv_results_["mean_test_score"]
             for est, y in searches]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            remote = [GridSearchCV(est, GRID, cv=2, n_jobs=-1).fit(X, y)
                      .cv_results_["mean_test_score"] for est, y in searches]
        assert len(client.scheduler_info()["workers"]) == 2
    # equal up to the order of float sums: the workers' TensorFlow may compile
    # with XLA where the test process does not (conftest), or split products
    # over other threads (docs/guide/persistence.md, "Seeds")
    for a, b in zip(local, remote):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
