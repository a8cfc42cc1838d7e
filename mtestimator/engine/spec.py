"""What the estimators hand the engine: a network specification, training settings, seeds.

Plain data, no Keras and no scikit-learn: a :class:`NetworkSpec` says which
network to build (trunk, one output per head with its loss, optimizer,
seed) and is the key of the trainer cache; :class:`TrainSettings` says how
one fit trains it. :func:`fresh_seed`, :func:`seed_of` and :func:`seed_stream` are
the only places seeds are made.
"""

import itertools
import numbers
import secrets
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SCHEDULES", "NetworkSpec", "OutputSpec", "TrainSettings", "fresh_seed", "seed_of",
           "seed_stream"]

#: Learning-rate schedules over a fit's steps (None: the constant rate; see
#: :func:`mtestimator.engine.trainer.schedule_factor`).
SCHEDULES = ("cosine", "linear_warmup_cosine")


def fresh_seed():
    """A new seed from the operating system, touching no global RNG state."""
    return secrets.randbits(31)


def seed_of(random_state):
    """An int seed (or None) from an int, a ``np.random.RandomState`` (a draw
    from a copy: the instance is not advanced) or None."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    copy_ = np.random.RandomState()
    copy_.set_state(random_state.get_state())
    return int(copy_.randint(0, 2**31 - 1))


_PRIME = 2**31 - 1  # per-layer seeds stay below it: every backend takes 32-bit ints


def seed_stream(seed):
    """Distinct per-layer seeds from one seed; ``None`` stays unseeded.

    The stream is ``start + step * i`` (``i = 1, 2, ...``) modulo the prime
    ``p = 2**31 - 1``. A seed ``s`` below ``p`` starts at ``1000 * s`` with
    step 1 (the streams of every release so far); a seed ``s >= p`` starts
    at ``(s - p) % p`` with step ``2 + (s - p) // p``. The first two values
    give back the start and the step, and no two seeds share both: below
    ``p`` because 1000 is invertible modulo ``p``, above it because the step
    is never 1, for every seed up to ``p * (p - 2)`` (about ``2**62``; a
    ``random_state`` is at most ``2**32 - 1``). So no two such seeds build
    the same initial weights (every network has at least two seeded layers).
    """
    if seed is None:
        return itertools.repeat(None)
    seed = int(seed)
    if seed < _PRIME:
        start, step = seed * 1000, 1
    else:
        start, step = divmod(seed - _PRIME, _PRIME)[::-1]
        step += 2
    return ((start + step * i) % _PRIME for i in itertools.count(1))


def _loss_key(loss):
    """A loss (a Keras name or a configured Loss object) as a cache-key string."""
    return repr(loss if isinstance(loss, str) else loss.get_config())


@dataclass(frozen=True)
class OutputSpec:
    """One head of a network: its name, its Dense output layer, its loss and metric.

    ``loss`` is a Keras loss name or a ``keras.losses.Loss`` instance.
    ``hidden`` are the sizes of the head's own Dense layers between the
    trunk and the output (its tower; empty: none), built with ``tower``'s
    settings, ``(name, value)`` pairs: ``activation``, ``dropout``,
    ``alpha`` (L2 penalty) and ``kernel_initializer``.
    ``metric`` is the kind of metric in the history (``"accuracy"``,
    ``"binary_accuracy"``, ``"r2"``: see :mod:`~mtestimator.engine.metrics`) or None.
    """

    name: str
    units: int
    activation: str
    loss: object = None
    metric: object = None
    hidden: tuple = ()
    tower: tuple = ()

    def key(self):
        """What makes two outputs the same layers for a compiled trainer (a
        dropout rate is a value the trainer sets; having dropout is not)."""
        tower = tuple((k, bool(v) if k == "dropout" else v) for k, v in self.tower)
        return (self.name, self.units, self.activation, _loss_key(self.loss), self.metric,
                self.hidden, tower)


@dataclass(frozen=True, eq=False)
class NetworkSpec:
    """A network: a trunk shared by one named Dense output per head.

    Parameters
    ----------
    input_shape : tuple of int
        The shape of one sample.
    outputs : tuple of OutputSpec
    trunk : callable
        ``trunk(inputs, seeds)`` returns the shared feature tensor; ``seeds``
        yields one seed per initializer and dropout layer.
    trunk_key : hashable
        What makes two trunks build the same layers (dropout rates aside).
    optimizer : str, default="adam"
        A name of :data:`~mtestimator.engine.optimizers.OPTIMIZERS`.
    uncertainty : bool, default=False
        Learn each output's loss weight (homoscedastic uncertainty).
    seed : int or None, default=None
        Seeds every initializer and dropout layer.
    input_dtype : str, default="float32"
    name : str, default="multitask_network"
        The Keras model's name.
    owner : str, default=""
        Who builds it (an estimator's class name): part of the cache key.
    weight_decay : float or None, default=None
        The optimizer's decoupled weight decay (Keras's ``weight_decay``);
        None: the optimizer's default.
    per_head : bool, default=False
        The trunk gives each head its own features: it is called as
        ``trunk(inputs, seeds, head_names)`` and returns a dict by name.
    """

    input_shape: tuple
    outputs: tuple
    trunk: object
    trunk_key: object
    optimizer: str = "adam"
    uncertainty: bool = False
    seed: object = None
    input_dtype: str = "float32"
    name: str = "multitask_network"
    owner: str = ""
    weight_decay: object = None
    per_head: bool = False

    def key(self):
        """What makes two specifications able to share one compiled trainer:
        all but the seed (values the trainer takes at each fit, such as the
        learning rate, loss weights or dropout rates, are in no spec)."""
        return (self.owner, self.name, self.trunk_key, tuple(self.input_shape),
                self.input_dtype, self.optimizer, self.weight_decay, bool(self.uncertainty),
                tuple(o.key() for o in self.outputs))


@dataclass(frozen=True)
class TrainSettings:
    """How one fit trains a network.

    ``seed`` orders the batches (``first_epoch`` is added, so a continued fit
    shuffles anew); ``loss_weights`` are each output's static weight in the
    total loss (``None``: all 1, or learned with ``uncertainty``);
    ``patience`` stops after that many epochs without a lower validation
    loss; ``callbacks`` are Keras callbacks (deep-copied for the fit);
    ``verbose`` 0, 1 (a tqdm bar) or 2 (epoch lines); ``description`` names
    the fit in the progress output; ``schedule`` the learning-rate schedule
    over the fit's ``epochs`` (``"cosine"``, ``"linear_warmup_cosine"``;
    None: the constant ``learning_rate``); ``balancing`` how the loss
    weights change (``"dwa"``: Dynamic Weight Average, between epochs;
    ``"gradnorm"``: GradNorm, at each step from ``loss_weights``, with
    ``initial_losses`` each head's ``L_i(0)`` by name, None: the first
    epoch's; None: they stay ``loss_weights``); ``gradient_method`` how the
    heads' gradients of the shared variables combine (``"pcgrad"``; None:
    summed).
    """

    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    first_epoch: int = 0
    loss_weights: object = None
    patience: object = None
    callbacks: tuple = field(default_factory=tuple)
    verbose: int = 0
    description: object = None
    schedule: object = None
    balancing: object = None
    gradient_method: object = None
    initial_losses: object = None
