"""A run's validations kept alone, without a folder or a trainer: the best, the stalls, the early
stop and the learning rate they decide."""
import types

import pytest

from s2sxp.history import ValidationHistory

P = 10                                                  # iterations an epoch


def _settings(lr=0.1, lr_half_life=0, anneal_at=0, plateau=0):
    return types.SimpleNamespace(lr=lr, lr_half_life=lr_half_life, anneal_at=anneal_at,
                                 plateau=plateau)


def _history(scores, ats, select="bleu"):
    history = ValidationHistory(("exact", "bleu", "chrf"), select, P)
    for bleu, at in zip(scores, ats):
        history.add({"exact": bleu / 100, "bleu": bleu, "chrf": 2 * bleu}, at)
    return history


def test_each_validation_keeps_its_scores_and_when_it_was_made():
    history = _history([10, 12], [5, 10])
    assert dict(history) == {"val_acc": [0.1, 0.12], "val_bleu": [10, 12],
                             "val_chrf": [20, 24], "val_at": [5, 10]}
    assert history.summary()["val_epochs"] == [0.5, 1.0]
    assert list(ValidationHistory()) == ["val_acc", "val_at"]
    carried = ValidationHistory(("exact", "bleu", "chrf"), "bleu", P, saved=dict(history))
    assert dict(carried) == dict(history) and carried.best() == (12, 1.0)


def test_the_best_is_the_selected_scores_highest_and_the_first_to_reach_it():
    history = _history([10, 12, 11, 12], [10, 20, 30, 40])
    assert history.best() == (12, 2.0) and history.summary()["best_epoch"] == 2
    assert history.is_best()                            # 12 again: as good as the best
    assert _history([10, 12], [10, 20], select="chrf").selected == [20, 24]
    assert not _history([10, 12, 11], [10, 20, 30]).is_best()
    assert ValidationHistory().summary()["best_epoch"] is None


def test_patience_stops_after_so_many_validations_without_a_better_score():
    history = _history([10, 12, 11, 11], [10, 20, 30, 40])
    assert not history.stopped_early(3, 40) and history.stopped_early(2, 40)
    assert not history.stopped_early(2, 30)             # the last is not made yet
    assert not history.stopped_early(0, 40)


def test_the_rate_halves_on_each_plateau_and_smoothly_every_half_life():
    history = _history([10, 12, 11, 11, 13, 12], [10, 20, 30, 40, 50, 60])
    assert history.rate_at(60, 60, _settings(plateau=1)) == pytest.approx(0.1 / 8)
    assert history.rate_at(60, 20, _settings(plateau=1)) == pytest.approx(0.1)
    assert history.rate_at(60, 60, _settings(plateau=2)) == pytest.approx(0.05)
    assert history.rate_at(20, 0, _settings(lr_half_life=10)) == pytest.approx(0.025)


def test_a_validation_without_its_iteration_was_made_at_the_end_of_an_epoch():
    history = ValidationHistory(("exact",), "exact", P)
    history["val_acc"] = [0.5, 0.995, 0.98, 0.2]
    assert history.ats() == [10, 20, 30, 40]
    anneal = _settings(lr=0.001, anneal_at=0.99)
    for epochs, halvings in ((0, 0), (1, 0), (2, 1), (3, 2), (4, 3)):
        assert history.rate_at(7, epochs * P, anneal) == pytest.approx(0.001 * 0.5 ** halvings)
