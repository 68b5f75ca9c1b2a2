"""A run's wall-clock budget, on clocks that replay recorded seconds (never the real one): the
fraction of training done at each iteration, the validations' share, the start-up counted, a
resumed run that is the uninterrupted one to the iteration, and --minutes on the command line."""
import itertools
import json
import time

import numpy
import pytest

from s2sxp import cli
from s2sxp import run as runs
from s2sxp.budget import MOST_VALIDATIONS, SHARE, Budget
from s2sxp.config import TrainConfig
from s2sxp.run import Run, train
from s2sxp.schedule import decayed
from s2sxp.trainer import TrainingInterrupted

SMALL = dict(examples=200, wordvec_size=4, hidden_size=8, batch_size=16, seed=0)
TINY = ["--examples", "200", "--wordvec-size", "4", "--hidden-size", "8", "--batch-size", "16",
        "--seed", "0"]


class Replay:
    """A clock of recorded laps: its first reading is 0, each next one the sum of the laps so far;
    ``on_call(calls)`` after each reading."""

    def __init__(self, laps, on_call=None):
        self.readings = [0.0] + list(itertools.accumulate(laps))
        self.calls, self.on_call = 0, on_call

    def __call__(self):
        now = self.readings[self.calls]
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        return now


class Ticking:
    """A clock one second later at each reading."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def test_the_fraction_done_is_the_training_so_far_of_what_the_budget_leaves_for_it():
    # a minute: 5 s of start-up, iterations of 1 s, the last validation guessed at 2 iterations
    budget = Budget(1, Replay([5] + [1] * 100), validation_iterations=2)
    budget.count_other()
    fractions = []
    while not budget.ended:
        fractions.append(budget.fraction())
        budget.count_iteration()
    assert budget.iterations == 53 == 60 - 5 - 2
    assert fractions == pytest.approx([k / 53 for k in range(53)], rel=1e-12)
    rates = [decayed(0.003, "linear", f) for f in fractions]
    assert rates[-1] == pytest.approx(0.003 * (0.01 + 0.99 * (1 / 53) / 0.97), rel=1e-9)
    assert budget.validate_now()                       # the last, as training has ended
    budget.count_validation()
    assert budget.spent == 59 and budget.minutes_left == pytest.approx(1 / 60)


def _spend(budget, clock, validation):
    """Iterations of 1 s and validations of ``validation`` s until the budget has ended; the
    fraction of training done at each validation."""
    at = []
    clock[0] += 3
    budget.count_other()
    while True:
        clock[0] += 1
        budget.count_iteration()
        if budget.validate_now():
            at.append(budget.fraction())
            clock[0] += validation
            budget.count_validation()
            if budget.ended:
                return at


@pytest.mark.parametrize("guess", [6, 3, 12, 0.5])
def test_validations_take_at_most_their_share_of_the_budget_spread_over_it(guess):
    clock = [0.0]
    budget = Budget(10, lambda: clock[0], validation_iterations=guess)
    at = _spend(budget, clock, validation=6)
    assert budget.validating <= SHARE * 600 and budget.spent <= 600
    assert len(at) == 5 and at[-1] == 1                 # 30 s: five of 6 s, the last at 1
    gaps = numpy.diff([0] + at)
    if guess == 6:                                      # guessed right: evenly spread
        assert gaps == pytest.approx([0.2] * 5, abs=0.01)
    assert gaps.min() > 0.04                            # none bunched together


def test_a_long_budget_validates_at_most_so_many_times():
    clock = [0.0]
    budget = Budget(600, lambda: clock[0], validation_iterations=1)
    assert len(_spend(budget, clock, validation=1)) == MOST_VALIDATIONS + 1


def test_validations_come_ten_iterations_apart_at_the_least():
    clock = [0.0]
    budget = Budget(1, lambda: clock[0], validation_iterations=0.01)
    at = _spend(budget, clock, validation=0.01)           # some 56 iterations in the minute
    assert len(at) == 5 and numpy.diff([0] + at).min() >= 10 / 56


def test_a_budget_carries_on_from_its_state():
    clock = [0.0]
    budget = Budget(10, lambda: clock[0], validation_iterations=3)
    clock[0] += 2
    budget.count_other()
    for _ in range(40):
        clock[0] += 1
        budget.count_iteration()
    state = json.loads(json.dumps(budget.state_dict()))
    again = Budget(10, lambda: clock[0], validation_iterations=3, saved=state)
    assert again.state_dict() == budget.state_dict()
    assert again.fraction() == budget.fraction() and again.plan() == budget.plan()


def _finished(run):
    return {"params": [p.copy() for p in run.model.params], "loss": run.trainer.loss_list,
            "history": dict(run.history), "budget": run.budget.state_dict(),
            "trained": run.trained}


def test_a_resumed_budgeted_run_is_the_uninterrupted_one_given_the_recorded_times(tmp_path):
    # in 64ths of a second, so that the sums of the laps are exact whatever they start from
    laps = (numpy.random.default_rng(3).integers(32, 96, 1000) / 64).tolist()
    config = TrainConfig(minutes=1.5, **SMALL)
    straight = Run.start(tmp_path / "straight", config, log=None, clock=Replay(laps))
    train([straight])
    assert straight.budget.validations >= 3             # some inside the budget, and the last
    expected = _finished(straight)
    straight.close()

    held = []
    stopping = Replay(laps, lambda calls: calls == 40 and held[0].trainer.stop())
    held.append(Run.start(tmp_path / "stopped", config, log=None, clock=stopping))
    with pytest.raises(TrainingInterrupted):
        train(held)
    assert held[0].trainer.iteration                    # stopped inside an epoch
    held[0].close()
    # the resumed process starts in no time, then the recorded laps go on
    resumed = Run.resume(tmp_path / "stopped", clock=Replay([0] + laps[stopping.calls - 1:]))
    assert resumed.budget.iterations < expected["budget"]["iterations"]
    train([resumed])
    got = _finished(resumed)
    resumed.close()
    for p, q in zip(got.pop("params"), expected.pop("params"), strict=True):
        numpy.testing.assert_array_equal(p, q)
    assert got == expected


def test_the_budget_counts_the_start_up(tmp_path, monkeypatch):
    config = TrainConfig(minutes=1, **dict(SMALL, examples=2000))
    plain = Run.start(tmp_path / "plain", config, log=None, clock=Ticking())
    train([plain])
    plain.close()

    clock, load_data = Ticking(), runs.load_data

    def slow_load(*args):                               # reading the data takes 10 s
        clock.now += 10
        return load_data(*args)

    monkeypatch.setattr(runs, "load_data", slow_load)
    slow = Run.start(tmp_path / "slow", config, log=None, clock=clock)
    train([slow])
    slow.close()
    assert plain.trained < plain.iterations_per_epoch   # one epoch unfinished: no epoch's end
    assert plain.trained - slow.trained == 10
    assert slow.budget.spent <= 60 and plain.budget.spent <= 60


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_minutes_with_epochs_is_refused_in_one_line(tmp_path, capsys):
    code, out, err = run_cli(capsys, "train", "--minutes", "1", "--epochs", "3", *TINY,
                             "--out", tmp_path / "r")
    assert code == 2 and err.count("\n") == 1
    assert "--minutes and --epochs both say how long to train; give one" in err
    assert not (tmp_path / "r").exists()
    code, _, err = run_cli(capsys, "compare", "--minutes", "1", *TINY, "--out", tmp_path / "c")
    assert code == 2 and "--minutes is for s2sxp train" in err


def test_train_minutes_prints_its_plan_and_the_minutes_left_and_resumes_its_budget(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(time, "monotonic", Ticking())  # each reading one second later
    code, out, _ = run_cli(capsys, "train", "--minutes", "1.5", *TINY, "--out", tmp_path)
    assert code == 0, out
    assert "budget: 1.5 minutes, start-up included" in out
    plan = [line for line in out.splitlines() if line.startswith("plan: about ")]
    assert len(plan) == 1 and "decaying linearly to 1e-05" in plan[0], out
    assert "minutes left)" in out and '"schedule": "linear"' in out and '"epochs": null' in out
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["val_minutes"]) == len(history["val_at"]) >= 2
    assert history["val_minutes"][-1] <= 1.5
    code, out, _ = run_cli(capsys, "train", "--resume", "--out", tmp_path)
    assert code == 0 and "the run has spent its 1.5 minutes" in out
    code, _, err = run_cli(capsys, "train", "--resume", "--epochs", "5", "--out", tmp_path)
    assert code == 2 and "carries on the budget it had left" in err
