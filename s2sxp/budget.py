"""A run's wall-clock budget (``s2sxp train --minutes M``): the seconds it has spent and how,
the fraction of its training done (what a planned schedule decays by, :mod:`s2sxp.schedule`),
when to validate and when to stop. Bookkeeping only: it knows no folders, files or models.

Every second from the run's start counts: its start-up (reading the data, learning subwords),
its iterations, its validations and the writing of its files; a resumed run carries on the
seconds its checkpoint recorded. What is left once the validations still to come are set aside
is training time, and the iterations are expected to go on at the pace measured so far, so::

    left     = seconds - spent - (validations to come) * (seconds a validation)
    fraction = trained / (trained + left)     (trained: the seconds of iterations so far)

Training stops once ``left`` would not hold another iteration; a last validation follows (it
picks best.npz), and the test file is scored after the budget, not counted in it.

Validations inside the budget are spread evenly over the fraction of training, as many as fit
in :data:`SHARE` of the budget at the seconds one takes (measured; before the first, guessed from
the iteration's pace and the sizes of the splits), and one is made only where it and the last
fit in that share. Time comes from ``clock`` (seconds; ``time.monotonic`` unless told), read at
fixed points only, so that recorded readings replay a run exactly; over several ranks
(:mod:`s2sxp.distributed`) rank 0's readings are sent to all, so every rank decides alike.
"""
import math
import time

from .distributed import SINGLE

#: The most of a budget its validations may take.
SHARE = 0.05
#: The most validations inside a budget, the last one aside.
MOST_VALIDATIONS = 20
#: Iterations timed before the pace is trusted: validations start after them, and a process
#: makes its plan known.
PLAN_AFTER = 10
#: What a budget's state holds, each a number.
STATE = ("seconds", "spent", "trained", "iterations", "validating", "validations", "at",
         "ended")


class Budget:
    """``minutes`` of the wall clock for one run. ``validation_iterations``: about how many
    training iterations one validation costs, the guess before one is timed; ``started``: the
    clock's reading when the run started (read now where None); ``saved``: a
    :meth:`state_dict` to carry on; ``plans``: whether it spaces the validations (else they
    are the schedule's, and only the last is set aside). ``on_plan(budget)``, where set, is
    called once the pace is known (after :data:`PLAN_AFTER` iterations of this process)."""

    def __init__(self, minutes, clock=None, world=SINGLE, started=None,
                 validation_iterations=1.0, saved=None, plans=True):
        self.clock, self.world, self.plans = clock or time.monotonic, world, plans
        self.validation_iterations = validation_iterations
        self.seconds = 60.0 * minutes
        self.spent = self.trained = self.validating = 0.0  # seconds: all, iterations, validations
        self.iterations = self.validations = 0             # of this budget, every process
        self.at = 0.0                 # the fraction of training done at the last validation
        self.ended = False
        self.last = None              # the seconds of the last validation timed
        self.marks = []               # the seconds spent at the end of each validation
        if saved is not None:
            self.load_state_dict(saved)
        self._reading = self.clock() if started is None else started
        self._timed = 0               # iterations timed by this process
        self.on_plan = None

    # -- the clock -------------------------------------------------------------------------

    def _lap(self):
        """Seconds since the last reading (rank 0's, on every rank)."""
        now = self.clock()
        seconds, self._reading = now - self._reading, now
        return float(self.world.broadcast(seconds, "agreeing on the budget's clock"))

    def count_other(self):
        """The seconds since the last reading were start-up or writing files."""
        self.spent += self._lap()
        self.ended = self.ended or self.spent >= self.seconds

    def count_iteration(self):
        """The seconds since the last reading were an iteration; ends training where another
        would not fit in what is left."""
        seconds = self._lap()
        self.spent += seconds
        self.trained += seconds
        self.iterations += 1
        self._timed += 1
        self.ended = self.ended or self.left < self.iteration_seconds
        if self._timed == PLAN_AFTER and self.on_plan is not None:
            self.on_plan(self)

    def count_validation(self):
        """The seconds since the last reading were a validation."""
        self.at = self.fraction()
        seconds = self._lap()
        self.spent += seconds
        self.validating += seconds
        self.validations += 1
        self.last = seconds
        self.marks.append(self.spent)

    # -- the plan --------------------------------------------------------------------------

    @property
    def iteration_seconds(self):
        """The mean seconds of an iteration so far (0 before the first)."""
        return self.trained / self.iterations if self.iterations else 0.0

    @property
    def validation_seconds(self):
        """The seconds a validation takes: the last one's, or before one was timed, the guess
        from the iterations' pace (0 before an iteration was timed)."""
        if self.last is not None:
            return self.last
        return self.validation_iterations * self.iteration_seconds

    @property
    def planned(self):
        """How many validations the budget holds before its last: as many as fit in
        :data:`SHARE` of it with the last, at most :data:`MOST_VALIDATIONS` and one every
        :data:`PLAN_AFTER` iterations expected."""
        if not self.plans:
            return 0
        v, d = self.validation_seconds, self.iteration_seconds
        if not (v and d):
            return MOST_VALIDATIONS
        expected = self.iterations + (self.seconds - self.spent) / d
        return max(0, min(MOST_VALIDATIONS, math.floor(SHARE * self.seconds / v) - 1,
                          math.floor(expected / PLAN_AFTER) - 1))

    @property
    def left(self):
        """The seconds of training left: what the validations still to come leave of it."""
        to_come = max(0, self.planned - self.validations) + 1
        return max(0.0, self.seconds - self.spent - to_come * self.validation_seconds)

    def fraction(self):
        """The fraction of training done (0-1): trained / (trained + left)."""
        if self.ended:
            return 1.0
        total = self.trained + self.left
        return self.trained / total if total else 0.0

    def validate_now(self):
        """Whether a validation is due: the last one once training has ended; before, the next
        of :attr:`planned`, those still to come spread evenly over the fraction of training
        after the last one, where it and the last fit in :data:`SHARE` of the budget."""
        if self.ended:
            return True
        to_come, v = self.planned - self.validations, self.validation_seconds
        return (self.iterations >= PLAN_AFTER and to_come > 0
                and self.fraction() >= self.at + (1 - self.at) / (to_come + 1)
                and self.validating + 2 * v <= SHARE * self.seconds)

    @property
    def minutes_left(self):
        return max(0.0, self.seconds - self.spent) / 60

    def plan(self):
        """The plan as the pace stands: {iterations: expected in all, validations: in all,
        the last included, end: the minute training ends, seconds: of an iteration}."""
        d = self.iteration_seconds
        return {"iterations": self.iterations + (round(self.left / d) if d else 0),
                "validations": self.planned + 1, "end": (self.spent + self.left) / 60,
                "seconds": d}

    # -- the checkpoint --------------------------------------------------------------------

    def state_dict(self):
        """What a checkpoint keeps of the budget, JSON-able."""
        state = {k: getattr(self, k) for k in STATE}
        return dict(state, ended=bool(self.ended), last=self.last, marks=list(self.marks))

    def load_state_dict(self, state):
        for k in STATE:
            setattr(self, k, type(getattr(self, k))(state[k]))
        self.last = None if state.get("last") is None else float(state["last"])
        self.marks = [float(m) for m in state.get("marks", [])]
