"""The ``s2sxp`` command line (also ``python -m s2sxp``): train, eval, translate, compare, plot,
serve and bench. Each command's module turns its flags into calls of the package; commands.py reads the
command line and dispatches. This module stays light, so that Ctrl-C while the rest is imported
ends the command quietly.

Each command exits 0 when it worked. A mistake in what it was given (flags, data, a model or
checkpoint file, the backend) ends it with one line ``s2sxp COMMAND: error: ...`` and exit code 2;
a loss that turns NaN or infinite with exit code 1; Ctrl-C, after a checkpoint is written, with 130.
"""
import os
import subprocess
import sys

#: The benchmark each ``s2sxp bench`` form runs: a module of the checkout's benchmarks/ folder.
BENCHMARKS = {"padded": "benchmarks.padded_epoch", None: "benchmarks.epoch_cost"}


def checkout():
    """The source checkout this copy of s2sxp runs from (the folder above the package), or None
    where it has no benchmarks/ folder (an installed wheel)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return root if os.path.isfile(os.path.join(root, "benchmarks", "__init__.py")) else None


def bench(argv):
    """``s2sxp bench [padded] ARGS``: the checkout's benchmark, run as ``python -m`` with ARGS."""
    root = checkout()
    if root is None:
        print("s2sxp bench: error: the benchmarks live in the benchmarks/ folder of a source "
              "checkout of s2sxp (pip install -e . from a clone), which this copy lacks",
              file=sys.stderr)
        return 2
    module = BENCHMARKS[argv[0] if argv[:1] == ["padded"] else None]
    argv = argv[1:] if argv[:1] == ["padded"] else argv
    # the checkout first on the path, and not a benchmarks/ folder of the current directory
    env = dict(os.environ, PYTHONSAFEPATH="1", PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    try:
        return subprocess.call([sys.executable, "-m", module, *argv], env=env)
    except KeyboardInterrupt:
        return 130


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        return bench(argv[1:])
    try:
        from .commands import run
        from .. import distributed
    except KeyboardInterrupt:                       # Ctrl-C while starting up
        print("s2sxp: interrupted", file=sys.stderr)
        return 130
    if not distributed.launched():
        return run(argv)
    return distributed.run_all(_one_rank, run, argv)


def _one_rank(run, argv):
    """``run(argv)`` as one rank of an MPI job: rank 0 prints, the others only their errors,
    each line marked with the rank."""
    from ..distributed import world
    ranks = world()
    if ranks.rank:
        sys.stdout = open(os.devnull, "w")
        sys.stderr = _Marked(sys.stderr, f"[rank {ranks.rank}] ")
    return run(argv)


class _Marked:
    """A text stream that begins each line with ``mark``."""

    def __init__(self, stream, mark):
        self.stream, self.mark, self.at_start = stream, mark, True

    def write(self, text):
        for line in text.splitlines(keepends=True):
            if self.at_start:
                self.stream.write(self.mark)
            self.stream.write(line)
            self.at_start = line.endswith("\n")
        return len(text)

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return False


if __name__ == "__main__":
    sys.exit(main())
