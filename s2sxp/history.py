"""The validations of a run and what follows from them (:class:`ValidationHistory`): the scores of
each and when it was made, the best so far, how long the scores have stalled, whether patience
has run out, and the learning rate an iteration trains at (:func:`s2sxp.schedule.scheduled_rate`).
Bookkeeping only: it knows no folders, files, trainers or processes.
"""
from .schedule import scheduled_rate, stalls

#: Each score's column in a run's history (history.json): exact match, BLEU, chrF.
COLUMNS = {"exact": "val_acc", "bleu": "val_bleu", "chrf": "val_chrf"}


class ValidationHistory(dict):
    """{column: [value per validation]}: the :data:`COLUMNS` of the ``scores`` a validation
    gives, and ``val_at``, the iterations trained before each. A validation with no iteration
    recorded was made at the end of an epoch, the first at the end of epoch 1, and so on.

    ``select`` is the score that picks the best model and that patience and plateaus watch;
    ``per_epoch`` the iterations of an epoch; ``saved``, a history to carry on."""

    def __init__(self, scores=("exact",), select="exact", per_epoch=1, saved=None):
        super().__init__({COLUMNS[name]: [] for name in scores}, val_at=[])
        self.select, self.per_epoch = select, per_epoch
        for column in self:
            self[column] = list((saved or {}).get(column, []))

    def add(self, scores, at):
        """The ``scores`` of a validation made after ``at`` iterations."""
        for name, column in COLUMNS.items():
            if column in self:
                self[column].append(scores[name])
        self["val_at"].append(int(at))

    @property
    def selected(self):
        """The selected score of each validation."""
        return self[COLUMNS[self.select]]

    def ats(self):
        """The iterations trained before each validation."""
        ats = list(self["val_at"])
        at_epoch_ends = len(self["val_acc"]) - len(ats)
        return [(i + 1) * self.per_epoch for i in range(at_epoch_ends)] + ats

    def _made_by(self, now):
        """The indices of the validations made by the time ``now`` iterations were trained."""
        return [i for i, at in enumerate(self.ats()) if at <= now]

    def rate_at(self, iteration, now, settings):
        """The learning rate of ``iteration`` (0: the first of the run), ``now`` iterations into
        the run: the ``settings``' ``lr``, halved every ``lr_half_life`` iterations, after every
        finished epoch from the first whose accuracy reached ``anneal_at``, and once every
        ``plateau`` validations in a row without a better score."""
        P, ats, done = self.per_epoch, self.ats(), self._made_by(now)
        accuracies = [self["val_acc"][i] for i in done if ats[i] % P == 0]
        scores = [self.selected[i] for i in done]
        return scheduled_rate(settings.lr, settings.lr_half_life, settings.anneal_at, iteration,
                              accuracies[:now // P], settings.plateau, scores)

    def stopped_early(self, patience, now):
        """Whether ``patience`` validations in a row (0: never) have not improved on the best,
        ``now`` iterations into the run."""
        scores = [self.selected[i] for i in self._made_by(now)]
        return bool(patience and scores and stalls(scores)[-1] >= patience)

    def is_best(self):
        """Whether the last validation's score is the best so far."""
        scores = self.selected
        return bool(scores) and scores[-1] >= max(scores)

    def best(self):
        """(the best score, the epoch of training that reached it)."""
        scores = self.selected
        best = max(scores)
        return best, self.ats()[scores.index(best)] / self.per_epoch

    def summary(self):
        """The columns, and when each validation was made, in epochs, and the number of the best
        (from 1; None before the first)."""
        scores = self.selected
        return {**self, "val_epochs": [at / self.per_epoch for at in self.ats()],
                "best_epoch": 1 + scores.index(max(scores)) if scores else None}
