"""The shapes of a model's parameters, known before it is built (:func:`param_shapes`), so that
a saved file or a run's settings can be held to the model's own size before its memory is taken.

Every dimension of our models' parameters is an affine function of their sizes (the vocabulary
V, the sources' vocabulary, the embedding size D, the hidden size H: ``4 * H``, ``D + H``,
``2 * H`` ...). A model built at small sizes gives the constant, and one built with each size one
larger gives that size's coefficient; the shapes at any sizes follow without building the model
there."""
import numpy

#: The sizes a model's config names, and the small, distinct values the probes are built at.
PROBE = {"vocab_size": 7, "source_vocab_size": 11, "wordvec_size": 5, "hidden_size": 3}


def param_shapes(family, config):
    """The shapes of the parameters, in order, of ``family(**config)`` (a model class and the
    config its :attr:`config` records)."""
    sizes = {k: int(config[k]) for k in PROBE if config.get(k) is not None}
    tied = bool(config.get("tie_weights"))      # the output layer shares the embedding: D == H
    base = {k: PROBE[k] for k in sizes}
    if tied:
        base["hidden_size"] = base["wordvec_size"]
    start = _built(family, config, base)
    shapes = [list(s) for s in start]
    for name in sizes:
        if tied and name == "hidden_size":
            continue
        bumped = dict(base, **{name: base[name] + 1})
        if tied and name == "wordvec_size":
            bumped["hidden_size"] += 1
        for shape, s0, s1 in zip(shapes, start, _built(family, config, bumped), strict=True):
            for i, (a, b) in enumerate(zip(s0, s1, strict=True)):
                shape[i] += (b - a) * (sizes[name] - base[name])
    return [tuple(s) for s in shapes]


def _built(family, config, sizes):
    options = dict(config, **sizes)
    if options.get("pad_id") is not None:
        options["pad_id"] = 0
    model = family(**options, xp=numpy, dtype=numpy.float32)
    return [p.shape for p in model.params]


def param_count(family, config):
    """How many values the parameters of ``family(**config)`` hold."""
    return sum(int(numpy.prod(s, dtype=numpy.int64)) for s in param_shapes(family, config))
