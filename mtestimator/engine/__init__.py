"""The training engine: a network specification and data in, a trained network out.

Nothing in this package knows scikit-learn or the estimators; the
estimators know nothing of the backends. The entry is
:func:`mtestimator.engine.training.train` (with ``build`` and ``predict``
beside it), fed a :class:`~mtestimator.engine.spec.NetworkSpec` and
:class:`~mtestimator.engine.spec.TrainSettings`.

- ``spec``: the specification, training settings and seeds (no Keras);
- ``networks``, ``initializers``: pure Keras builders, losses, optimizers;
- ``training``: build, train (compiled trainer or Keras's ``fit``), predict;
- ``imports``: the first import of Keras and the backend, global random state kept;
- ``trainer``: what both backends' trainers share (epoch chunks, callbacks);
- ``backend_tensorflow``, ``backend_jax``: one compiled trainer per backend;
- ``cache``: the trainer cache, bounded by memory (no Keras);
- ``forward``: NumPy inference of Dense networks;
- ``metrics``: each head's metric in the history (sums in the step, one value per epoch);
- ``progress``: ``verbose=1`` and ``verbose=2`` output;
- ``threads``: TensorFlow and XLA threads in joblib workers (no Keras).

Importing this package imports no Keras: its modules that do are imported
when a network is first built.
"""
