"""The learning-rate schedules by name: the planned ones (linear, cosine) held to a slow, obvious
formula at every fraction of training, and run over a fixed number of epochs; the step ones
(plateau, halving) as the recipes were; the settings a schedule has no use for refused."""
import math

import numpy
import pytest

import s2sxp
from s2sxp import cli
from s2sxp.config import TrainConfig
from s2sxp.schedule import FLOOR, WARMUP, decayed
from s2sxp.settings import SettingError

TINY = ["--examples", "200", "--wordvec-size", "4", "--hidden-size", "8", "--batch-size", "16",
        "--seed", "0"]


def _obvious(lr, kind, fraction):
    """The planned rate by points on its curve: lr/100 at 0, lr at WARMUP, lr/100 at 1; straight
    lines between them, or for cosine after the warm-up, the mean of lr and lr/100 plus half
    their difference times the cosine of the angle that goes from 0 to pi."""
    low = lr / 100
    if kind == "linear" or fraction <= WARMUP:
        return float(numpy.interp(fraction, [0, WARMUP, 1], [low, lr, low]))
    angle = math.pi * (fraction - WARMUP) / (1 - WARMUP)
    return (lr + low) / 2 + (lr - low) / 2 * math.cos(angle)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_a_planned_rate_warms_up_then_decays_to_near_zero_at_every_fraction(kind):
    assert FLOOR == 0.01
    fractions = numpy.linspace(0, 1, 1001)
    rates = [decayed(0.003, kind, f) for f in fractions]
    assert rates == pytest.approx([_obvious(0.003, kind, f) for f in fractions], rel=1e-12)
    assert decayed(0.003, kind, 0) == pytest.approx(3e-5)
    assert decayed(0.003, kind, WARMUP) == pytest.approx(0.003)
    assert decayed(0.003, kind, 1) == decayed(0.003, kind, 1.5) == pytest.approx(3e-5)
    after = [r for f, r in zip(fractions, rates) if f >= WARMUP]
    assert all(a >= b for a, b in zip(after, after[1:]))          # down, never up again
    middle = (1 + WARMUP) / 2
    assert decayed(0.003, kind, middle) == pytest.approx((0.003 + 3e-5) / 2)


def test_cosine_stays_above_linear_in_the_first_half_of_the_decay_and_below_in_the_second():
    assert decayed(1, "cosine", 0.3) > decayed(1, "linear", 0.3)
    assert decayed(1, "cosine", 0.8) < decayed(1, "linear", 0.8)


def _recorded_rates(monkeypatch):
    rates = []
    step = s2sxp.Adam.step

    def record(self, model):
        rates.append(self.lr)
        step(self, model)

    monkeypatch.setattr(s2sxp.Adam, "step", record)
    return rates


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_a_planned_schedule_over_epochs_ends_with_the_last_epoch(kind, tmp_path, capsys,
                                                                  monkeypatch):
    rates = _recorded_rates(monkeypatch)
    assert cli.main(["train", "--epochs", "2", "--schedule", kind, *TINY,
                     "--out", str(tmp_path)]) == 0
    total = 22                                          # 11 iterations an epoch
    assert rates == pytest.approx([_obvious(0.001, kind, i / total) for i in range(total)],
                                  rel=1e-12)
    assert '"schedule": "%s"' % kind in capsys.readouterr().out


def test_the_step_schedules_keep_the_recipes_and_are_named():
    assert TrainConfig().resolved().schedule == "halving"
    assert TrainConfig(tokens="word").resolved().schedule == "plateau"
    book = TrainConfig(schedule="plateau").resolved()
    assert (book.plateau, book.anneal_at, book.lr_half_life) == (1, 0, 0)
    corpus = TrainConfig(model="bahdanau", tokens="word", schedule="halving",
                         lr_half_life=500).resolved()
    assert (corpus.plateau, corpus.lr_half_life) == (0, 500)
    planned = TrainConfig(schedule="cosine").resolved()
    assert (planned.plateau, planned.anneal_at, planned.lr_half_life) == (0, 0, 0)
    with pytest.raises(SettingError, match="--plateau has no use with --schedule linear"):
        TrainConfig(schedule="linear", plateau=2).resolved()
    assert TrainConfig(schedule="linear", plateau=0).resolved().plateau == 0
