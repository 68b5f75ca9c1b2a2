"""The options a model family takes beside the book's sizes, each checked by one rule here, which
the constructors and a run's settings (:mod:`s2sxp.config`) share. A family's options, and their
defaults, are the keyword parameters of its constructor that :data:`OPTIONS` names."""
import inspect

#: Where BahdanauSeq2seq's decoder starts: the sum of the encoder states, or the last one.
INIT_STATES = ("sum", "last")


def _layers(value):
    if isinstance(value, bool) or int(value) != value or value < 1:
        return None, f"must be a whole number from 1, got {value}"
    return int(value), None


def _fraction(value):
    if not 0 <= float(value) < 1:
        return None, f"is from 0 to below 1, got {value}"
    return float(value), None


def _init_state(value):
    if value not in INIT_STATES:
        return None, f"must be one of {', '.join(INIT_STATES)}, got {value!r}"
    return value, None


def _switch(value):
    return bool(value), None


#: Each option's rule: value -> (the value as the model keeps it, None) or (None, the problem).
OPTIONS = {
    "init_state": _init_state,
    "reset_state_each_step": _switch,
    "encoder_layers": _layers,
    "decoder_layers": _layers,
    "bidirectional": _switch,
    "dropout": _fraction,
    "tie_weights": _switch,
    "input_feeding": _switch,
    "label_smoothing": _fraction,
}


def problem(name, value):
    """What is wrong with ``value`` for the option ``name`` (a phrase after its name), or None."""
    try:
        return OPTIONS[name](value)[1]
    except (TypeError, ValueError):
        return f"must be a number, got {value!r}"


def checked(name, value):
    """``value`` as the model keeps it; ValueError ``NAME PROBLEM`` where it breaks the rule."""
    wrong = problem(name, value)
    if wrong is not None:
        raise ValueError(f"{name} {wrong}")
    return OPTIONS[name](value)[0]


def defaults(family):
    """{option: default} of the options a model class takes, and its default ``cell``."""
    parameters = inspect.signature(family).parameters
    return {name: p.default for name, p in parameters.items() if name in OPTIONS or name == "cell"}
