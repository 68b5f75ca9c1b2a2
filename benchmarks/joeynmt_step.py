"""A training step of s2sxp's Bahdanau model against JoeyNMT's recurrent model of the same sizes,
in one process, in turns, on the same batches of the shared Tatoeba corpus (Japanese -> English,
SentencePiece 4,000 pieces a side, separate vocabularies), and the peak resident memory of each
over a training run of its own.

    python -m benchmarks.joeynmt_step --batch-sizes 64,128 --iterations 30

Run it where JoeyNMT 2.3 and PyTorch are installed beside s2sxp (its own venv: pip install
joeynmt==2.3.0 torch importlib_metadata, then pip install -e . from the clone). Both models: an
embedding of 256, a bidirectional LSTM encoder of 256 a direction, a bridge to the decoder's
first state, an LSTM decoder of 256 with additive (Bahdanau) attention, Adam, clipping at 5,
no dropout; JoeyNMT's decoder also feeds its attention vector back (input feeding), so it does
a little more per step. Each step: forward, backward of the mean loss per target token, clip,
Adam. Writes DATE-joeynmt-step.json and .md into --out (default
benchmarks/results/joeynmt-step/).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy

from benchmarks.harness import (machine_info, record_stem, results_folder, say, source_info,
                                write_record)

CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "shared", "corpora", "tatoeba-jpn-eng")
E, H = 256, 256


def corpus_data():
    from s2sxp.config import TrainConfig
    from s2sxp.data import load_data

    config = TrainConfig(model="bahdanau", cell="lstm", data=os.path.join(CORPUS, "train.tsv"),
                         tokens="spm", vocab_size=4000, source_column=2, seed=0).resolved()
    return load_data(config)


def ours(data):
    import s2sxp

    model = s2sxp.models.build("bahdanau", len(data.vocab), E, H, cell="lstm", seed=0,
                               pad_id=data.vocab.pad_id, source_vocab_size=len(data.source_vocab),
                               bidirectional=True)
    return model, s2sxp.Adam(lr=1e-3)


def ours_step(model, optimizer, xs, ts):
    from s2sxp.optim import clip_grads

    loss = model.forward(xs, ts)
    model.backward()
    clip_grads([model.flat_grads], 5.0)
    optimizer.step(model)
    return float(loss)


#: Our special ids (pad, bos, eos, unk: 0-3) as JoeyNMT numbers them (unk, pad, bos, eos: 0-3).
TO_JOEY = numpy.array([1, 2, 3, 0])


def joey(data):
    import torch
    from joeynmt.model import build_model
    from joeynmt.vocabulary import Vocabulary

    specials = SimpleNamespace(unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                               eos_token="</s>", sep_token=None, lang_tags=[], unk_id=0,
                               pad_id=1, bos_id=2, eos_id=3)
    src_vocab = Vocabulary(list(data.source_vocab.tokens[4:]), specials)
    trg_vocab = Vocabulary(list(data.vocab.tokens[4:]), specials)
    rnn = {"type": "recurrent", "rnn_type": "lstm", "hidden_size": H, "num_layers": 1,
           "dropout": 0.0, "embeddings": {"embedding_dim": E}}
    cfg = {"encoder": dict(rnn, bidirectional=True),
           "decoder": dict(rnn, attention="bahdanau", init_hidden="bridge", input_feeding=True,
                           hidden_dropout=0.0),
           "initializer": "xavier_uniform", "init_gain": 1.0, "bias_initializer": "zeros",
           "embed_initializer": "normal", "embed_init_weight": 0.1}
    torch.manual_seed(0)
    model = build_model(cfg, src_vocab, trg_vocab)
    model.loss_function = ("crossentropy", 0.0)            # (loss, label smoothing)
    model.train()
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def joey_batch(xs, ts):
    import torch

    def ids(a):
        a = numpy.asarray(a)
        return torch.from_numpy(numpy.where(a < 4, TO_JOEY[numpy.minimum(a, 3)], a)
                                .astype(numpy.int64))

    src, trg = ids(xs), ids(ts)
    order = torch.argsort((src != 1).sum(dim=1), descending=True, stable=True)
    src, trg = src[order], trg[order]            # as JoeyNMT's Batch sorts them, longest first
    return {"src": src, "src_length": (src != 1).sum(dim=1), "src_mask": (src != 1).unsqueeze(1),
            "trg_input": trg[:, :-1], "trg": trg[:, 1:], "trg_mask": (trg[:, 1:] != 1)
            .unsqueeze(1)}


def joey_step(model, optimizer, batch):
    import torch

    loss_sum = model(return_type="loss", **batch)[0]
    loss = loss_sum / batch["trg_mask"].sum()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()
    optimizer.zero_grad()
    return float(loss)


def batches(data, batch_size, count, seed=0):
    """``count`` batches of the training split as s2sxp's trainer draws them (by length), epoch
    after epoch."""
    from s2sxp.batches import bucket_order

    rng = numpy.random.default_rng(seed)
    per_epoch = len(data.x_train) // batch_size
    for i in range(count):
        if i % per_epoch == 0:
            order = bucket_order(rng, data.x_train.lengths, data.t_train.lengths, batch_size)
        rows = order[i % per_epoch * batch_size:(i % per_epoch + 1) * batch_size]
        yield data.x_train[rows], data.t_train[rows]


def alternate(data, batch_size, iterations, warmup):
    """(ours, joey) seconds of each timed step, in turns (which goes first alternates)."""
    import torch

    model, optimizer = ours(data)
    jmodel, joptimizer = joey(data)
    times = {"s2sxp": [], "joeynmt": []}
    for i, (xs, ts) in enumerate(batches(data, batch_size, warmup + iterations)):
        jb = joey_batch(xs, ts)
        runs = [("s2sxp", lambda: ours_step(model, optimizer, xs, ts)),
                ("joeynmt", lambda: joey_step(jmodel, joptimizer, jb))]
        for name, run in (runs if i % 2 == 0 else runs[::-1]):
            start = time.perf_counter()
            run()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    params = {"s2sxp": int(model.flat_params.size),
              "joeynmt": int(sum(p.numel() for p in jmodel.parameters()))}
    return times, params, torch.get_num_threads()


def memory(which, batch_size, iterations):
    """Peak resident memory (MiB) of a process training ``which`` alone for ``iterations`` steps,
    the corpus (loaded first, by the same code for both) and the libraries included."""
    code = (f"from benchmarks import joeynmt_step as b; b.train_alone({which!r}, {batch_size}, "
            f"{iterations})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=3600)
    if done.returncode:
        say(done.stderr)
        return None
    return float(done.stdout.split()[-1])


def train_alone(which, batch_size, iterations):
    """Print the peak resident memory (MiB) of training, from after the corpus is loaded (Linux
    resets the peak when told: /proc/self/clear_refs)."""
    data = corpus_data()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    if which == "s2sxp":
        model, optimizer = ours(data)
        for xs, ts in batches(data, batch_size, iterations):
            ours_step(model, optimizer, xs, ts)
    else:
        model, optimizer = joey(data)
        for xs, ts in batches(data, batch_size, iterations):
            joey_step(model, optimizer, joey_batch(xs, ts))
    with open("/proc/self/status") as f:
        peak = next(line for line in f if line.startswith("VmHWM:"))
    print(int(peak.split()[1]) / 1024)


def beam_speed(data, train_steps, beam=5, batch_size=64, joey_batch_size=100):
    """Sentences a second of beam search over the 1,000 test sentences, after ``train_steps``
    steps of training each model alone (so that hypotheses end as a trained model's do); both
    decode at most the corpus's longest target, s2sxp in its own batches, JoeyNMT in batches of
    ``joey_batch_size`` sentences sorted by length, as its test command does."""
    import torch
    from joeynmt.search import beam_search
    from s2sxp.config import TrainConfig
    from s2sxp.data import load_data
    from s2sxp.decoding import DecodeOptions, decode
    from s2sxp.metrics import bleu

    test = load_data(TrainConfig(
        model="bahdanau", cell="lstm", data=os.path.join(CORPUS, "train.tsv"),
        test=os.path.join(CORPUS, "test.tsv"), tokens="spm", source_column=2, seed=0).resolved(),
        vocab=data.vocab, source_vocab=data.source_vocab).test_set
    max_length = data.max_output_length
    model, optimizer = ours(data)
    jmodel, joptimizer = joey(data)
    for xs, ts in batches(data, batch_size, train_steps):
        ours_step(model, optimizer, xs, ts)
        joey_step(jmodel, joptimizer, joey_batch(xs, ts))
    ours_runs = {}
    for early_stop in (False, True):
        start = time.perf_counter()
        options = DecodeOptions(beam, early_stop=early_stop, max_length=max_length)
        ids = decode(model, test.x, data.vocab.bos_id, data.vocab.eos_id, options).ids
        hypotheses = [data.vocab.decode_text(row) for row in ids]
        ours_runs[early_stop] = {"seconds": time.perf_counter() - start,
                                 "bleu": bleu(hypotheses, test.references)}

    jmodel.eval()
    lengths = test.x.lengths
    order = numpy.argsort(-lengths, kind="stable")
    start = time.perf_counter()
    outputs = {}
    with torch.no_grad():
        for i in range(0, len(order), joey_batch_size):
            rows = order[i:i + joey_batch_size]
            b = joey_batch(test.x[rows], numpy.zeros((len(rows), 2), dtype=numpy.int64))
            enc_out, enc_hidden, _, _ = jmodel(return_type="encode", src=b["src"],
                                               src_length=b["src_length"],
                                               src_mask=b["src_mask"])
            ids, _, _ = beam_search(jmodel, beam, enc_out, enc_hidden, b["src_mask"],
                                    max_length, alpha=1.0, n_best=1)
            for row, out in zip(rows, numpy.asarray(ids).reshape(len(rows), -1)):
                outputs[int(row)] = out
    joey_s = time.perf_counter() - start
    from_joey = numpy.array([3, 0, 1, 2])                         # unk, pad, bos, eos -> ours
    joey_text = [data.vocab.decode_text(numpy.where(o < 4, from_joey[numpy.minimum(o, 3)], o))
                 for o in (outputs[r] for r in range(len(order)))]
    return {"sentences": len(order), "beam": beam, "train_steps": train_steps,
            "max_length": int(max_length),
            "s2sxp": {"seconds": ours_runs[False]["seconds"], "bleu": ours_runs[False]["bleu"],
                      "sentences_per_s": len(order) / ours_runs[False]["seconds"]},
            "s2sxp_early_stop": {"seconds": ours_runs[True]["seconds"],
                                 "bleu": ours_runs[True]["bleu"],
                                 "sentences_per_s": len(order) / ours_runs[True]["seconds"]},
            "joeynmt": {"seconds": joey_s, "sentences_per_s": len(order) / joey_s,
                        "bleu": bleu(joey_text, test.references),
                        "batch_size": joey_batch_size}}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.joeynmt_step",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", default="64,128")
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--memory-iterations", type=int, default=60,
                   help="steps of each training run whose peak memory is measured (0: none)")
    p.add_argument("--beam-train-steps", type=int, default=600,
                   help="steps of training before beam search is timed (0: no beam search)")
    p.add_argument("--out", default=results_folder("joeynmt-step"),
                   help="folder for the record (default %(default)s)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    say("loading the corpus")
    data = corpus_data()
    results = []
    for batch_size in (int(b) for b in args.batch_sizes.split(",") if b):
        say(f"batch {batch_size}: steps in turns")
        times, params, threads = alternate(data, batch_size, args.iterations, args.warmup)
        ratio = numpy.median(numpy.array(times["s2sxp"]) / numpy.array(times["joeynmt"]))
        result = {"batch_size": batch_size, "iterations": args.iterations, "params": params,
                  "torch_threads": threads, "times": times,
                  "median_ms": {k: 1e3 * float(numpy.median(v)) for k, v in times.items()},
                  "median_ratio": float(ratio)}
        if args.memory_iterations:
            say(f"batch {batch_size}: peak memory of a training run of each")
            result["peak_rss_mib"] = {w: memory(w, batch_size, args.memory_iterations)
                                      for w in ("s2sxp", "joeynmt")}
        results.append(result)
        say(json.dumps({k: v for k, v in result.items() if k != "times"}))
    beam = None
    if args.beam_train_steps:
        say(f"beam search over the test sentences after {args.beam_train_steps} steps")
        beam = beam_speed(data, args.beam_train_steps)
        say(json.dumps(beam))
    import joeynmt
    import torch
    record = {"machine": machine_info(torch), "source": source_info(),
              "joeynmt": getattr(joeynmt, "__version__", "2.3.0"),
              "vocab": [len(data.source_vocab), len(data.vocab)], "results": results,
              "beam": beam}
    rows = ["| batch | s2sxp ms | JoeyNMT ms | s2sxp / JoeyNMT (median of the pairs) "
            "| peak RSS s2sxp / JoeyNMT MiB | parameters s2sxp / JoeyNMT |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        mem = r.get("peak_rss_mib") or {}
        rows.append(f"| {r['batch_size']} | {r['median_ms']['s2sxp']:.1f} "
                    f"| {r['median_ms']['joeynmt']:.1f} | {r['median_ratio']:.2f} "
                    f"| {mem.get('s2sxp') or 0:.0f} / {mem.get('joeynmt') or 0:.0f} "
                    f"| {r['params']['s2sxp']:,} / {r['params']['joeynmt']:,} |")
    text = (f"# s2sxp against JoeyNMT 2.3, a training step, {time.strftime('%Y-%m-%d')}\n\n"
            f"`python -m benchmarks.joeynmt_step {' '.join(argv or sys.argv[1:])}`\n\n"
            f"Tatoeba Japanese -> English, SentencePiece vocabularies {len(data.source_vocab)} / "
            f"{len(data.vocab)}; steps in turns on the same batches after {args.warmup}; "
            f"PyTorch {torch.__version__} on {torch.get_num_threads()} threads.\n\n"
            + "\n".join(rows) + "\n")
    if beam is not None:
        o, e, j = beam["s2sxp"], beam["s2sxp_early_stop"], beam["joeynmt"]
        text += (f"\nBeam {beam['beam']} over the {beam['sentences']} test sentences (at most "
                 f"{beam['max_length']} tokens) after {beam['train_steps']} steps of batch 64 "
                 f"training each: s2sxp {o['sentences_per_s']:.1f} sentences/s "
                 f"({o['seconds']:.1f} s, BLEU {o['bleu']:.2f}) searching until every beam "
                 f"ends, {e['sentences_per_s']:.1f} sentences/s ({e['seconds']:.1f} s, BLEU "
                 f"{e['bleu']:.2f}) stopping a sentence once its best beam ends; JoeyNMT (which "
                 f"stops so, and drops finished sentences from its batch) "
                 f"{j['sentences_per_s']:.1f} sentences/s ({j['seconds']:.1f} s, BLEU "
                 f"{j['bleu']:.2f}, batches of {j['batch_size']}).\n")
    write_record(record_stem(args.out, "joeynmt-step"), record, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
