"""The headline: Japanese -> English on the shared Tatoeba corpus, s2sxp against JoeyNMT 2.3, each
trained for the same minutes of wall-clock time on this machine, one after the other, then scored
on the test file by sacrebleu (detokenized text, 13a) with beam 5 from its best checkpoint by dev
BLEU; dev BLEU against minutes in a PNG.

    python -m benchmarks.headline --minutes 30 --joeynmt-python ~/joey-venv/bin/python

(JoeyNMT's venv: pip install joeynmt==2.3.0 torch==2.13.0 importlib_metadata
"sentencepiece==0.2.0"; JoeyNMT 2.3 calls SentencePiece's SetVocabulary, which 0.2.1 dropped.)

Each system's clock starts with its command, so it covers what that command does before training
(reading the corpus; s2sxp also learns its SentencePiece models, which JoeyNMT is handed ready:
the same models, trained beforehand from the training file by s2sxp's settings). At the time limit
the command gets Ctrl-C: s2sxp writes its checkpoint, JoeyNMT ends its training loop; each keeps
its best checkpoint by dev BLEU, which is then translated. The recipes are S2SXP_RECIPE and
JOEYNMT_CONFIG below. Writes DATE-headline[-TAG].json, .md and .png into --out (default
benchmarks/results/headline/); the corpus files, runs and logs go to --work (default
benchmarks/results/headline/.work/, which git ignores).
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time

from benchmarks.harness import (machine_info, record_stem, results_folder, say, source_info,
                                write_record)

CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "shared", "corpora", "tatoeba-jpn-eng")

#: s2sxp's recipe: a bidirectional GRU encoder, dropout 0.2, label smoothing 0.1, SentencePiece
#: 4,000 a side, Adam from lr 3e-3, validated after every epoch and halved after each epoch
#: without a better dev BLEU. (Validating every 150 iterations, --plateau 1 halved the rate at
#: nearly every validation: it was 2e-5 by minute 12. At the corpus recipe's lr 1e-2 held for
#: four epochs by --plateau 2, the loss rose from the second epoch on.)
S2SXP_RECIPE = ["--model", "bahdanau", "--cell", "gru", "--bidirectional", "--dropout", "0.2",
                "--label-smoothing", "0.1", "--tokens", "spm", "--vocab-size", "4000",
                "--batch-size", "128", "--lr", "0.003", "--plateau", "1", "--epochs", "1000",
                "--patience", "0"]

#: JoeyNMT's strong RNN recipe: bidirectional LSTM, input feeding, dropout 0.2, Adam 2e-3 times
#: 0.9 after every epoch, batch 64 (its "plateau" scheduler fails on PyTorch 2.13; with 0.7 an
#: epoch its dev BLEU was still rising after 30 minutes, at a rate of 1.6e-4).
JOEYNMT_CONFIG = """\
name: "tatoeba_jaen_rnn"
data:
    train: "{work}/train"
    dev: "{work}/dev"
    test: "{work}/test"
    dataset_type: "plain"
    src:
        lang: "ja"
        max_length: 200
        lowercase: False
        level: "bpe"
        tokenizer_type: "sentencepiece"
        tokenizer_cfg:
            model_file: "{work}/source.model"
    trg:
        lang: "en"
        max_length: 200
        lowercase: False
        level: "bpe"
        tokenizer_type: "sentencepiece"
        tokenizer_cfg:
            model_file: "{work}/target.model"
testing:
    n_best: 1
    beam_size: 5
    beam_alpha: 1.0
    batch_size: 100
    batch_type: "sentence"
    max_output_length: 100
    eval_metrics: ["bleu"]
    sacrebleu_cfg:
        tokenize: "13a"
training:
    random_seed: 42
    optimizer: "adam"
    normalization: "tokens"
    learning_rate: 0.002
    learning_rate_min: 0.000001
    scheduling: "exponential"
    decrease_factor: 0.9
    batch_size: 64
    batch_type: "sentence"
    clip_grad_norm: 5.0
    early_stopping_metric: "bleu"
    epochs: 1000
    validation_freq: 600
    logging_freq: 100
    model_dir: "{work}/joeynmt"
    overwrite: True
    shuffle: True
    use_cuda: False
    keep_best_ckpts: 1
    print_valid_sents: [0]
model:
    initializer: "xavier_uniform"
    bias_initializer: "zeros"
    init_gain: 1.0
    embed_initializer: "xavier_uniform"
    embed_init_gain: 1.0
    encoder:
        type: "recurrent"
        rnn_type: "lstm"
        embeddings:
            embedding_dim: 256
            dropout: 0.2
        hidden_size: 256
        bidirectional: True
        dropout: 0.2
        num_layers: 1
    decoder:
        type: "recurrent"
        rnn_type: "lstm"
        embeddings:
            embedding_dim: 256
            dropout: 0.2
        hidden_size: 256
        dropout: 0.2
        hidden_dropout: 0.2
        num_layers: 1
        input_feeding: True
        init_hidden: "bridge"
        attention: "bahdanau"
"""


def pairs(name):
    with open(os.path.join(CORPUS, f"{name}.tsv"), encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t")[:2] for line in f]


def prepare(work):
    """The splits as aligned plain files (PATH.ja, PATH.en) and the SentencePiece models."""
    from s2sxp.vocab import train_subwords

    os.makedirs(work, exist_ok=True)
    for name in ("train", "dev", "test"):
        rows = pairs(name)
        for lang, column in (("en", 0), ("ja", 1)):
            with open(os.path.join(work, f"{name}.{lang}"), "w", encoding="utf-8") as f:
                f.writelines(row[column] + "\n" for row in rows)
    train = pairs("train")
    for side, column in (("source", 1), ("target", 0)):
        with open(os.path.join(work, f"{side}.model"), "wb") as f:
            f.write(train_subwords([row[column] for row in train], 4000))


def timed(command, seconds, log, env=None):
    """Run ``command`` with its output in ``log``, each line after the minutes since the start;
    Ctrl-C (SIGINT) at ``seconds``; returns the [(minutes, line)] it printed."""
    start = time.monotonic()
    lines = []
    with open(log, "w", encoding="utf-8") as out:
        # Ctrl-C as a terminal gives it, also where this script runs in the background (a shell
        # starts background jobs with SIGINT ignored, and Python then raises no KeyboardInterrupt)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=env, preexec_fn=lambda: signal.signal(
                                       signal.SIGINT, signal.SIG_DFL))
        timer = threading.Timer(seconds, lambda: process.send_signal(signal.SIGINT))
        timer.start()
        for line in process.stdout:
            minutes = (time.monotonic() - start) / 60
            lines.append((minutes, line.rstrip("\n")))
            out.write(f"{minutes:8.3f} {line}")
    process.wait()
    timer.cancel()
    return lines


def curve(lines, pattern):
    """[(minutes, dev BLEU)] of the lines that match ``pattern`` (its group 1: the BLEU)."""
    return [(m, float(match.group(1))) for m, line in lines
            if (match := re.search(pattern, line))]


def run_s2sxp(work, seconds):
    say("s2sxp: training")
    folder = os.path.join(work, "s2sxp")
    command = [sys.executable, "-m", "s2sxp", "train", "--data", os.path.join(CORPUS, "train.tsv"),
               "--dev", os.path.join(CORPUS, "dev.tsv"), "--source-column", "2",
               *S2SXP_RECIPE, "--out", folder, "--overwrite"]
    lines = timed(command, seconds, os.path.join(work, "s2sxp.log"),
                  env=dict(os.environ, PYTHONUNBUFFERED="1"))
    say("s2sxp: translating the test file")
    hypotheses = os.path.join(work, "s2sxp.test.en")
    subprocess.run([sys.executable, "-m", "s2sxp", "translate", "--run",
                    os.path.join(folder, "best.npz"), "--input", os.path.join(work, "test.ja"),
                    "--output", hypotheses, "--beam", "5"], check=True)
    return {"command": " ".join(command[1:]), "dev": curve(lines, r"^val BLEU ([\d.]+)"),
            "hypotheses": hypotheses}


def run_joeynmt(work, seconds, python):
    say("JoeyNMT: training")
    config = os.path.join(work, "joeynmt.yaml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(JOEYNMT_CONFIG.format(work=os.path.abspath(work)))
    lines = timed([python, "-m", "joeynmt", "train", config, "--skip-test"], seconds,
                  os.path.join(work, "joeynmt.log"))
    say("JoeyNMT: translating the test file")
    hypotheses = os.path.join(work, "joeynmt.test.en")
    with open(os.path.join(work, "test.ja"), encoding="utf-8") as source, \
            open(hypotheses, "w", encoding="utf-8") as out:
        # its best checkpoint, the translations on standard output (its --output-path fails
        # in 2.3: args.n_best)
        subprocess.run([python, "-m", "joeynmt", "translate", config], stdin=source, stdout=out,
                       check=True)
    return {"config": config,
            "dev": curve(lines, r"Evaluation result \(greedy\).*?bleu:\s*([\d.]+)"),
            "hypotheses": hypotheses}


def score(result, references):
    from s2sxp.metrics import bleu, chrf

    with open(result["hypotheses"], encoding="utf-8") as f:
        hypotheses = [line.rstrip("\n") for line in f]
    result["test_bleu"] = bleu(hypotheses, references)
    result["test_chrf"] = chrf(hypotheses, references)


def plot(results, path, minutes):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    fig, ax = pyplot.subplots(figsize=(6, 4))
    for name, result in results.items():
        if result["dev"]:
            xs, ys = zip(*result["dev"])
            ax.plot(xs, ys, marker=".", label=f"{name} (test {result['test_bleu']:.1f})")
    ax.set(xlabel="minutes of training (wall clock)", ylabel="dev BLEU (greedy)",
           title=f"Tatoeba ja→en, {minutes:g} minutes each", xlim=(0, minutes * 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.headline",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--joeynmt-python", help="the Python of a venv with JoeyNMT 2.3 (none: "
                   "s2sxp alone)")
    p.add_argument("--work", default=os.path.join(results_folder("headline"), ".work"),
                   help="folder for the corpus files, runs and logs (default %(default)s)")
    p.add_argument("--out", default=results_folder("headline"),
                   help="folder for the record (default %(default)s)")
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    seconds = args.minutes * 60
    os.makedirs(args.out, exist_ok=True)
    prepare(args.work)
    references = [row[0] for row in pairs("test")]
    results = {"s2sxp": run_s2sxp(args.work, seconds)}
    if args.joeynmt_python:
        results["JoeyNMT"] = run_joeynmt(args.work, seconds, args.joeynmt_python)
    for result in results.values():
        score(result, references)
    stem = record_stem(args.out, "headline", args.tag)
    plot(results, stem + ".png", args.minutes)
    rows = ["| system | test BLEU | test chrF | best dev BLEU | validations |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        best = max((b for _, b in r["dev"]), default=float("nan"))
        rows.append(f"| {name} | {r['test_bleu']:.2f} | {r['test_chrf']:.2f} | {best:.2f} "
                    f"| {len(r['dev'])} |")
    text = (f"# Japanese → English in {args.minutes:g} minutes each, "
            f"{time.strftime('%Y-%m-%d')}\n\n`python -m benchmarks.headline "
            f"{' '.join(argv if argv is not None else sys.argv[1:])}`\n\n"
            f"Test: the 1,000 pairs of test.tsv, beam 5, sacrebleu 13a on detokenized text; "
            f"dev BLEU by greedy decoding during training. s2sxp: `{results['s2sxp']['command']}`"
            + ("; JoeyNMT: JOEYNMT_CONFIG in benchmarks/headline.py" if args.joeynmt_python
               else "")
            + f".\n\n" + "\n".join(rows) + f"\n\n![dev BLEU]({os.path.basename(stem)}.png)\n")
    write_record(stem, {"minutes": args.minutes, "machine": machine_info(),
                        "source": source_info(), "results": results}, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
