"""What a KerasTrunk's ``build_fn`` takes: its signature checked, and the seed.

A ``build_fn`` takes the input shape, and a ``seed`` if it names one or
accepts ``**kwargs``; one that takes neither builds its layers as randomly as
it makes them, so seeded fits differ: :func:`warn_unseeded` says so, once
per fit, with the fix.
"""

import inspect
import warnings

__all__ = ["check_signature", "takes_seed", "warn_unseeded"]


def _parameters(build_fn):
    try:
        return inspect.signature(build_fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return None


def takes_seed(build_fn):
    """Whether ``build_fn`` receives ``seed=``: it names it, or accepts ``**kwargs``."""
    params = _parameters(build_fn)
    return params is not None and ("seed" in params or any(
        p.kind is p.VAR_KEYWORD for p in params.values()))


def check_signature(build_fn):
    """``build_fn`` must take the input shape as its one required argument."""
    params = _parameters(build_fn)
    if params is None:
        return
    required = [p for p in params.values() if p.default is p.empty and p.kind in
                (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
                for p in params.values())
    if not takes or len(required) > 1 + ("seed" in params):
        raise TypeError(
            f"KerasTrunk's build_fn={build_fn!r} must take the input shape as its "
            "one argument (and optionally seed=): build_fn(input_shape) returning a "
            f"Keras model; its signature is {inspect.signature(build_fn)}."
        )


def warn_unseeded(build_fn, owner):
    """A UserWarning when a seeded fit's ``build_fn`` cannot receive the seed."""
    if _parameters(build_fn) is None or takes_seed(build_fn):
        return
    name = getattr(build_fn, "__qualname__", repr(build_fn))
    warnings.warn(
        f"The KerasTrunk of {owner} has a build_fn ({name}) without a 'seed' "
        "argument: its layers' initial weights and dropout are drawn anew at each fit, "
        "so fits with the same random_state give different results. Add a seed "
        "parameter, build_fn(input_shape, seed=None), and pass it to the layers' "
        "initializers and dropout (e.g. kernel_initializer=keras.initializers."
        "GlorotUniform(seed), Dropout(0.1, seed=seed)).",
        UserWarning, stacklevel=4)
