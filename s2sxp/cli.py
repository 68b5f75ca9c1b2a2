"""The ``s2sxp`` command line."""
import argparse
import json
import os
import sys
import time

import numpy

from . import backend, datasets, io, models, viz
from .optim import OPTIMIZERS
from .trainer import Trainer, evaluate, show_examples

TRAIN_EXAMPLE = """examples:
  s2sxp train                                   # AttentionSeq2seq on the date data, book settings
  s2sxp train --model peeky --data addition --epochs 25 --batch-size 128
  s2sxp train --data my_pairs.txt --out runs/mine   # any file in the book's question_answer format
"""


def _train_parser(sub):
    p = sub.add_parser("train", help="train a model and write it, its history and plots",
                       description="Train a seq2seq model on a built-in dataset or a file in "
                       "the book's format; after every epoch print the validation accuracy; "
                       "write the model and an accuracy plot into the output folder.",
                       epilog=TRAIN_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="attention", choices=list(models.MODELS))
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    p.add_argument("--data", default="date",
                   help="dataset name (date, addition) or path of a question_answer text file")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--wordvec-size", type=int, default=16)
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--optimizer", default="adam", choices=list(OPTIMIZERS))
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--max-grad", type=float, default=5.0, help="clip gradients to this norm")
    p.add_argument("--reverse", action=argparse.BooleanOptionalAction, default=True,
                   help="feed the questions reversed, as the book does (default: on)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None, choices=list(backend.BACKENDS),
                   help="array backend (default: $S2S_BACKEND or numpy)")
    p.add_argument("--out", default=None, help="output folder (default: runs/MODEL-DATA)")
    p.set_defaults(run=train)
    return p


def train(args):
    if args.backend:
        backend.use(args.backend)
    (x_train, t_train), (x_test, t_test), vocab = datasets.load(args.data)
    if args.reverse:
        x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]
    data_name = os.path.splitext(os.path.basename(args.data))[0]
    out = args.out or os.path.join("runs", f"{args.model}-{data_name}")
    os.makedirs(out, exist_ok=True)
    model = models.build(args.model, len(vocab), args.wordvec_size, args.hidden_size,
                         cell=args.cell, seed=args.seed)
    optimizer = OPTIMIZERS[args.optimizer](lr=args.lr)
    trainer = Trainer(model, optimizer, seed=args.seed)
    config = {k: v for k, v in vars(args).items() if k != "run"}
    print(f"s2sxp train: {json.dumps(config)}; backend {backend.name()}; "
          f"{len(x_train)} train / {len(x_test)} test; vocabulary {len(vocab)}")
    history = {"config": config, "loss": [], "val_acc": []}
    for epoch in range(args.epochs):
        trainer.fit(x_train, t_train, max_epoch=1, batch_size=args.batch_size,
                    max_grad=args.max_grad)
        start = time.time()
        acc, guesses = evaluate(model, x_test, t_test)
        show_examples(x_test, t_test, guesses, vocab, count=3, reversed_input=args.reverse)
        print(f"val acc {100 * acc:.3f}% (evaluated {len(x_test)} in {time.time() - start:.1f}s)")
        history["val_acc"].append(acc)
        history["loss"] = trainer.loss_list
        io.save(model, os.path.join(out, "model.npz"), vocab=vocab, reversed_input=args.reverse)
        io.atomic_write(os.path.join(out, "history.json"),
                        lambda f: f.write(json.dumps(history, indent=1).encode()))
        viz.plot_accuracy({args.model: history["val_acc"]}, os.path.join(out, "accuracy.png"))
    print(f"wrote {out}/model.npz, history.json, accuracy.png")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="s2sxp", description="Seq2seq models with attention (Deep Learning from Scratch 2, "
        "ch. 7-8) on NumPy or CuPy.")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (backend.BackendError, datasets.DatasetError, io.CheckpointError, ValueError,
            FileNotFoundError) as e:
        print(f"s2sxp {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"s2sxp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
