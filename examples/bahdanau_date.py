"""Bahdanau (additive) attention on the date data: train BahdanauSeq2seq with its recipe (no
input reversal, Adam from lr 1e-2 halved every 350 iterations, gradients clipped at 5.0), print
the validation accuracy after every epoch, then save the model and the attention map of one test
question.

    python examples/bahdanau_date.py                         # GRU, H=256, D=16, 3 epochs
    python examples/bahdanau_date.py --cell lstm --reset-state-each-step
    python examples/bahdanau_date.py --epochs 1 --hidden-size 16 --n 2000 --out /tmp/bahdanau
"""
import argparse
import os

from s2sxp import Trainer, backend, datasets, evaluate, io, viz
from s2sxp.models import BahdanauSeq2seq
from s2sxp.optim import OPTIMIZERS, halving


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The whole docstring as the description, and each flag's default."""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--epochs", type=int, default=3, help="epochs to train")
    p.add_argument("--hidden-size", type=int, default=256,
                   help="width of the recurrent states")
    p.add_argument("--wordvec-size", type=int, default=16, help="embedding width")
    p.add_argument("--batch-size", type=int, default=128, help="questions a batch")
    p.add_argument("--n", type=int, default=50000, help="date lines generated, 90%% for training")
    p.add_argument("--cell", default="gru", choices=["gru", "lstm"], help="recurrent cell")
    p.add_argument("--init-state", default="sum", choices=["sum", "last"],
                   help="the decoder starts from the sum of the encoder states or the last")
    p.add_argument("--reset-state-each-step", action="store_true",
                   help="restart the decoder cell from zeros at every step")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the shuffling")
    p.add_argument("--out", default="runs/bahdanau-date", help="output folder")
    args = p.parse_args()

    (x_train, t_train), (x_test, t_test), vocab = datasets.load("date", n=args.n)
    model = BahdanauSeq2seq(len(vocab), args.wordvec_size, args.hidden_size, cell=args.cell,
                            seed=args.seed, init_state=args.init_state,
                            reset_state_each_step=args.reset_state_each_step)
    recipe = model.recipe
    optimizer = OPTIMIZERS[recipe["optimizer"]](lr=recipe["lr"])
    trainer = Trainer(model, optimizer, seed=args.seed)
    print(f"{model.kind} {model.config}, {recipe}; {len(x_train)} train / {len(x_test)} test")
    per_epoch = len(x_train) // args.batch_size

    def schedule(epoch, iteration):                  # the rate of the next iteration
        optimizer.lr = halving(recipe["lr"], recipe["lr_half_life"],
                               epoch * per_epoch + iteration + 1)

    for epoch in range(args.epochs):
        trainer.fit(x_train, t_train, max_epoch=1, batch_size=args.batch_size,
                    max_grad=recipe["max_grad"], eval_interval=50, on_iteration=schedule)
        acc, _ = evaluate(model, x_test, t_test)
        print(f"epoch {epoch + 1}: validation accuracy {100 * acc:.2f}%", flush=True)

    os.makedirs(args.out, exist_ok=True)
    io.save(model, os.path.join(args.out, "model.npz"), vocab=vocab, reversed_input=False)
    start_id, answer_size = int(t_test[0, 0]), t_test.shape[1] - 1
    guess = model.generate(x_test[:1], start_id, answer_size)             # one question
    weights = backend.asnumpy(model.attention_weights)[0]
    question, answer = vocab.decode(x_test[0]), vocab.decode(guess)
    path = os.path.join(args.out, "attention.png")
    viz.plot_attention(weights, question, answer, path,
                       title=f"{model.kind}-{args.cell}: {question.strip()}")
    print(f"Q {question.rstrip()!r} -> {answer!r} (truth {vocab.decode(t_test[0, 1:])!r}); "
          f"wrote {args.out}/model.npz and {path}")


if __name__ == "__main__":
    main()
