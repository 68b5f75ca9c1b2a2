"""The learning rate an iteration trains at, by the run's ``schedule`` (:data:`SCHEDULES`).

``linear`` and ``cosine`` are planned to an end (the last of ``epochs``, or the end of a
wall-clock budget, :class:`s2sxp.budget.Budget`): a short warm-up, then a decay to near zero,
as a function of the fraction of training done (Li, Yumer and Ramanan, "Budgeted Training",
ICLR 2020: a schedule that reaches zero at the budget's end beats a step schedule cut off by
it). ``plateau`` and ``halving`` are the step schedules, which know no end: the rate halves
once ``plateau`` validations in a row have not improved, or smoothly every ``lr_half_life``
iterations and after every epoch from the first whose accuracy reached ``anneal_at``.
"""
import math

#: The schedules by name: those planned to an end, then the step schedules.
PLANNED = ("linear", "cosine")
SCHEDULES = PLANNED + ("plateau", "halving")
#: The step settings each schedule decides where they are not given: a planned schedule has no
#: steps; a step schedule takes those of the other kind away.
STEP_SETTINGS = {**{kind: {"lr_half_life": 0, "anneal_at": 0, "plateau": 0} for kind in PLANNED},
                 "plateau": {"lr_half_life": 0, "anneal_at": 0, "plateau": 1},
                 "halving": {"plateau": 0}}
#: The part of a planned schedule spent warming up: the rate rises linearly to ``lr``.
WARMUP = 0.03
#: Where a planned schedule starts and ends, as a part of ``lr``.
FLOOR = 0.01


def decayed(lr, kind, fraction):
    """The rate of a planned schedule ``kind`` (linear, cosine) when ``fraction`` (0-1) of
    training is done: from ``lr * FLOOR`` up to ``lr`` linearly over the first WARMUP of it,
    then down to ``lr * FLOOR`` at its end, in a line or along half a cosine wave::

        d = (fraction - WARMUP) / (1 - WARMUP)
        linear: lr * (1 - (1 - FLOOR) * d)
        cosine: lr * (FLOOR + (1 - FLOOR) * (1 + cos(pi * d)) / 2)
    """
    fraction = min(max(fraction, 0.0), 1.0)
    if fraction < WARMUP:
        return lr * (FLOOR + (1 - FLOOR) * fraction / WARMUP)
    d = (fraction - WARMUP) / (1 - WARMUP)
    if kind == "cosine":
        return lr * (FLOOR + (1 - FLOOR) * (1 + math.cos(math.pi * d)) / 2)
    return lr * (1 - (1 - FLOOR) * d)


def rate_at(settings, history, iteration, now, budget=None):
    """The rate of ``iteration`` (0: the first of the run), ``now`` iterations into it, by the
    ``settings``' schedule: a planned one at the fraction of the ``budget`` used (where there is
    one) or of the ``epochs`` trained; a step one by the validations of ``history``
    (:meth:`~s2sxp.history.ValidationHistory.rate_at`)."""
    if settings.schedule not in PLANNED:
        return history.rate_at(iteration, now, settings)
    fraction = (budget.fraction() if budget is not None
                else iteration / (settings.epochs * history.per_epoch))
    return decayed(settings.lr, settings.schedule, fraction)


def halving(lr, half_life, iteration):
    """The learning rate of ``iteration`` (0: the first) when ``lr`` halves every ``half_life``
    iterations, smoothly: ``lr * 0.5 ** (iteration / half_life)``; ``lr`` where half_life is 0."""
    return lr * 0.5 ** (iteration / half_life) if half_life else lr


def stalls(scores):
    """For each validation score, how many validations in a row, it included, have not improved
    on the best before them (0 where it did)."""
    best, run, out = None, 0, []
    for score in scores:
        if best is None or score > best:
            best, run = score, 0
        else:
            run += 1
        out.append(run)
    return out


def plateaus(scores, patience):
    """How many times the rate is halved when it halves once ``patience`` validations in a row
    have not improved on the best score (the count starting again after each); 0 for patience
    0."""
    if not patience:
        return 0
    halvings, since = 0, 0
    for stalled in stalls(scores):
        since = since + 1 if stalled else 0
        if since == patience:
            halvings, since = halvings + 1, 0
    return halvings


def scheduled_rate(lr, half_life, anneal_at, iteration, accuracies, plateau=0, scores=()):
    """The learning rate of ``iteration`` (0: the first of the run) in the epoch that follows the
    finished epochs whose validation accuracies are ``accuracies``: ``lr`` halved every
    ``half_life`` iterations, smoothly (0: never), halved again for every finished epoch from
    the first whose accuracy reached ``anneal_at`` (0: never), and again for every ``plateau``
    validations in a row (0: never) whose ``scores`` did not improve on the best."""
    reached = next((e for e, a in enumerate(accuracies) if anneal_at and a >= anneal_at), None)
    annealed = 0 if reached is None else len(accuracies) - reached
    return (halving(lr, half_life, iteration) * 0.5 ** annealed
            * 0.5 ** plateaus(scores, plateau))
