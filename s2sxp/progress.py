"""Progress as a person sees it: a bar redrawn in place on a terminal; elsewhere (a file, a CI log)
nothing here, and the training loop writes the book's log lines instead."""
import sys
import time

#: Where progress goes unless told otherwise: ``sys.stdout`` as it is when progress is written
#: (so that a redirected standard output is followed).
STDOUT = "stdout"


def stream(log):
    """The stream a ``log`` setting names: ``sys.stdout`` for :data:`STDOUT`, else ``log`` itself
    (None: silence)."""
    return sys.stdout if log == STDOUT else log


def is_terminal(file):
    """True when ``file`` is an interactive terminal (progress bars), False for files and pipes."""
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class ProgressBar:
    """``label [########..........] 120/351 12s<23s note``, redrawn in place with ``\\r`` at most
    every ``interval`` seconds; ``close`` draws the final state and ends the line."""

    def __init__(self, total, label, file, width=30, interval=0.1):
        self.total, self.label, self.file = total, label, file
        self.width, self.interval = width, interval
        self.start = self.drawn = time.time()
        self.shown = 0

    def update(self, done, note="", force=False):
        now = time.time()
        if not force and now - self.drawn < self.interval:
            return
        self.drawn = now
        filled = self.width * done // max(self.total, 1)
        elapsed = now - self.start
        left = elapsed / done * (self.total - done) if done else 0.0
        line = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} "
                f"{elapsed:.0f}s<{left:.0f}s {note}").rstrip()
        self.file.write("\r" + line.ljust(self.shown))
        self.file.flush()
        self.shown = len(line)

    def close(self, done, note=""):
        self.update(done, note, force=True)
        self.file.write("\n")
        self.file.flush()


def progress_bar(total, label, file):
    """A :class:`ProgressBar` on ``file`` when it is a terminal, else None."""
    return ProgressBar(total, label, file) if file is not None and is_terminal(file) else None
