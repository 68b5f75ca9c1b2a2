"""The jobs tests/test_distributed.py starts under ``mpiexec -n K``: ``python tests/mpi_job.py
JOB FOLDER``. Each writes what the test compares into FOLDER (rank 0), or ends the job the way
the test expects.

    steps    N training steps of a Trainer over the ranks, then a decode split over them:
             steps.npz (parameters, losses, answers)
    steps-dropout  the same with a bidirectional 2-layer encoder and dropout
    train    a Run trained in FOLDER/run for 2 epochs on FOLDER/pairs.tsv, the writes of each
             rank counted: writes-RANK.json
    stop     as train, but rank 0 alone asks to stop during epoch 1
    budget   a Run of half a minute trained in FOLDER/run, on clocks that differ by rank: rank
             0's a second later at each reading, rank 1's ten
    raise    rank 1 raises at its 3rd update
    hang     rank 1 stops answering at its 3rd update
    exit     rank 1 ends at its 3rd update, without a word
    nccl     on the GPU: an array summed over the ranks by NCCL, the result in nccl.npy
"""
import dataclasses
import json
import os
import sys
import time

import numpy

from s2sxp import backend, corpus, distributed, files, folder as folders, models, run as runs
from s2sxp.config import TrainConfig
from s2sxp.decoding import DecodeOptions, decode
from s2sxp.optim import Adam
from s2sxp.trainer import Trainer, TrainingInterrupted

#: The global batch (not a multiple of 2 or 3: the ranks' shares differ in size).
BATCH = 15
STEPS = 6


def data():
    return corpus.load_pairs(corpus.synthetic_pairs(160, seed=3, max_words=6), tokens="word",
                             shared_vocab=True)


#: The model options of each steps job.
OPTIONS = {"steps": {}, "steps-dropout": {"encoder_layers": 2, "bidirectional": True,
                                          "dropout": 0.3}}


def model(c, **options):
    return models.build("bahdanau", len(c.vocab), 8, 12, cell="lstm", seed=1,
                        pad_id=c.vocab.pad_id, **options)


def steps(folder, world, options=None):
    """STEPS updates over the ranks (clipped, Adam), then the test split decoded over them."""
    c = data()
    m = model(c, **(options or {}))
    trainer = Trainer(m, Adam(lr=0.01), seed=5, log=None, world=world)
    try:
        trainer.fit(c.x_train, c.t_train, max_epoch=1, batch_size=BATCH, max_grad=0.5,
                    eval_interval=1, on_iteration=_stop_after(STEPS))
    except StopIteration:
        pass
    answers = decode(m, c.x_test, c.vocab.bos_id, c.vocab.eos_id,
                     DecodeOptions(max_length=10, batch_size=7), world=world).ids
    if world.rank == 0:
        numpy.savez(os.path.join(folder, "steps.npz"), params=m.flat_params,
                    losses=numpy.array(trainer.loss_list), answers=answers)


def _stop_after(n):
    def check(epoch, iteration):
        if iteration + 1 == n:
            raise StopIteration
    return check


def config(folder):
    return TrainConfig(model="bahdanau", data=os.path.join(folder, "pairs.tsv"), tokens="word",
                       wordvec_size=8, hidden_size=16, batch_size=32, epochs=2, seed=0)


def budget_config(folder):
    return dataclasses.replace(config(folder), epochs=None, minutes=0.5)


class Ticking:
    """A clock ``step`` seconds later at each reading."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def counting_writes(world, folder):
    """Count, in writes-RANK.json, the files each rank writes (atomic writes and epoch commits)."""
    counts = {"atomic_write": [], "commit": []}

    def counted(name, write):
        def call(path, *args, **kwargs):
            counts[name].append(os.path.basename(str(path)))
            with open(os.path.join(folder, f"writes-{world.rank}.json"), "w") as f:
                json.dump(counts, f)
            return write(path, *args, **kwargs)
        return call

    folders.atomic_write = counted("atomic_write", folders.atomic_write)
    folders.files.commit = counted("commit", files.commit)


def after_updates(run, n, action):
    """Call ``action()`` after this rank's n-th update."""
    step, done = run.optimizer.step, [0]

    def stepping(model):
        step(model)
        done[0] += 1
        if done[0] == n:
            action()

    run.optimizer.step = stepping


def main(job, folder):
    world = distributed.world()
    if job in OPTIONS:
        steps(folder, world, OPTIONS[job])
        return 0
    if job == "nccl":
        xp = backend.xp
        summed = world.allreduce(xp.arange(6, dtype=xp.float32) * (world.rank + 1), "a test")
        if world.rank == 0:
            numpy.save(os.path.join(folder, "nccl.npy"), backend.asnumpy(summed))
        return 0
    if job == "budget":
        run = runs.Run.start(os.path.join(folder, "run"), budget_config(folder), log=None,
                             world=world, clock=Ticking(1.0 if world.rank == 0 else 10.0))
        run.train()
        run.close()
        return 0
    counting_writes(world, folder)
    run = runs.Run.start(os.path.join(folder, "run"), config(folder), log=None, world=world)
    if job == "stop" and world.rank == 0:
        after_updates(run, 3, run.trainer.stop)
    if job in ("raise", "hang", "exit") and world.rank == 1:
        action = {"raise": _raise, "hang": lambda: time.sleep(600), "exit": lambda: os._exit(7)}
        after_updates(run, 3, action[job])
    try:
        run.train()
    except TrainingInterrupted:
        return 130
    finally:
        run.close()
    return 0


def _raise():
    raise RuntimeError("a fault made on purpose in rank 1")


if __name__ == "__main__":
    sys.exit(distributed.run_all(main, sys.argv[1], sys.argv[2]))
