"""What ``s2sxp serve`` gives many clients: sentences a second and latency of single-sentence
requests from 1, 8 and 64 concurrent clients, against the same server translating each request
on its own (``--batch-size 1 --batch-wait 0``) and against ``s2sxp translate --input`` on the
same sentences, greedy and with beam 5; every answer compared with the command line's.

    python -m benchmarks.serve --run runs/ja-en/best.npz
    python -m benchmarks.serve --run runs/ja-en/best.npz --count 40 --clients 1,4 --beams 1 \\
        --seconds 20 --out /tmp/serve-check                    # a check of the script

The sentences are the first --count of the shared corpus's test file (its --source-column,
Japanese), or of --data. Everything runs on this machine, on localhost: each server is a
``python -m s2sxp serve`` process on a free port, the clients are threads of this one, each
keeping one connection and sending its next sentence when the last is answered. A measurement
ends when every sentence is answered or after --seconds. Writes DATE-serve[-TAG].json and .md
into --out (default benchmarks/results/serve/).
"""
import argparse
import http.client
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import numpy

from benchmarks.harness import (machine_info, record_stem, results_folder, say, source_info,
                                write_record)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST = os.path.join(os.path.dirname(ROOT), "shared", "corpora", "tatoeba-jpn-eng", "test.tsv")
#: How each server is started: its flags beside --run.
SERVERS = {"batched": [], "one at a time": ["--batch-size", "1", "--batch-wait", "0"]}


def sentences_of(path, column, count):
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n").split("\t")[column - 1] for line in f if line.strip()]
    return lines[:count]


def command_line(run, sentences, beam, work):
    """``s2sxp translate --input``: (its translations, the sentences a second it reports)."""
    source, output = os.path.join(work, "source.txt"), os.path.join(work, "cli.txt")
    with open(source, "w", encoding="utf-8") as f:
        f.writelines(s + "\n" for s in sentences)
    done = subprocess.run([sys.executable, "-m", "s2sxp", "translate", "--input", source,
                           "--output", output, "--run", run, "--beam", str(beam)],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    rate = float(re.search(r"\(([\d.]+) sentences/s\)", done.stderr).group(1))
    with open(output, encoding="utf-8") as f:
        return f.read().splitlines(), rate


class Server:
    """``s2sxp serve --run RUN FLAGS`` on a free port, its log into ``log``, stopped by
    SIGTERM when the block ends."""

    def __init__(self, run, flags, log):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "s2sxp", "serve", "--run", run, "--port", "0",
             "--max-queue", "100000", *flags], stderr=subprocess.PIPE, text=True, cwd=ROOT)
        first = self.process.stderr.readline()
        found = re.search(r" on http://([\d.]+):(\d+)$", first)
        if not found:
            raise RuntimeError(f"the server did not start: {first}{self.process.stderr.read()}")
        self.host, self.port = found.group(1), int(found.group(2))
        self.drain = threading.Thread(target=lambda: log.writelines(self.process.stderr))
        self.drain.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(120)
        self.drain.join()


def load(server, sentences, expected, clients, beam, seconds):
    """``clients`` threads sending ``sentences`` one a request until all are answered or
    ``seconds`` pass: the measurement, with each answer compared to ``expected``."""
    body = {"beam": beam} if beam > 1 else {}
    order, lock, end = iter(range(len(sentences))), threading.Lock(), [0.0]
    latencies, wrong, failed = [], [], []
    start_line = threading.Barrier(clients + 1)

    def client():
        connection = http.client.HTTPConnection(server.host, server.port, timeout=600)
        start_line.wait()
        while time.perf_counter() < end[0]:
            with lock:
                i = next(order, None)
            if i is None:
                break
            sent = time.perf_counter()
            connection.request("POST", "/translate", json.dumps({"text": sentences[i], **body}),
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read())
            latencies.append(time.perf_counter() - sent)
            if response.status != 200:
                failed.append(f"{response.status}: {answer}")
            elif answer["translation"] != expected[i]:
                wrong.append(i)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    begin = time.perf_counter()
    end[0] = begin + seconds
    start_line.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    ms = numpy.asarray(latencies) * 1000
    return {"clients": clients, "beam": beam, "sentences": len(latencies), "seconds": elapsed,
            "sentences_per_s": len(latencies) / elapsed,
            "p50_ms": float(numpy.percentile(ms, 50)), "p99_ms": float(numpy.percentile(ms, 99)),
            "differ_from_cli": len(wrong), "failed": failed[:5] + (
                [f"and {len(failed) - 5} more"] if len(failed) > 5 else [])}


def measure(args, sentences, work, log):
    rows = []
    for beam in args.beams:
        say(f"beam {beam}: s2sxp translate --input, {len(sentences)} sentences")
        expected, rate = command_line(args.run, sentences, beam, work)
        rows.append({"server": "s2sxp translate --input", "clients": None, "beam": beam,
                     "sentences": len(sentences), "sentences_per_s": rate})
        for name, flags in SERVERS.items():
            with Server(args.run, flags, log) as server:
                load(server, sentences[:8], expected, 1, beam, args.seconds)    # warm-up
                for clients in args.clients:
                    say(f"beam {beam}: {name}, {clients} clients")
                    rows.append({"server": name, **load(server, sentences, expected, clients,
                                                         beam, args.seconds)})
    return rows


def report(rows, args, info):
    lines = [f"# s2sxp serve under load ({info['date']})", "",
             f"`python -m benchmarks.serve {' '.join(sys.argv[1:])}`", "",
             f"Model `{args.run}`; the first {args.count} sentences of `{args.data}` (column "
             f"{args.source_column}); one request a sentence, each client sending its next "
             f"when the last is answered; at most {args.seconds:g} s a measurement. Machine: "
             f"{info['machine']['cpu']['model']}, {info['machine']['cpu']['cores']} cores; "
             f"commit {info['source'].get('commit', '?')[:7]}.", "",
             "| server | clients | beam | sentences | sentences/s | p50 ms | p99 ms | "
             "differ from CLI | failed |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["clients"] is None:
            lines.append(f"| {r['server']} | | {r['beam']} | {r['sentences']} | "
                         f"{r['sentences_per_s']:.1f} | | | | |")
        else:
            lines.append(f"| {r['server']} | {r['clients']} | {r['beam']} | {r['sentences']} | "
                         f"{r['sentences_per_s']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                         f"{r['differ_from_cli']} | {len(r['failed'])} |")
    lines += ["", "Batched with the most clients, against one at a time with as many and against "
              "the command line:", ""]
    for beam in args.beams:
        of = {(r["server"], r["clients"]): r["sentences_per_s"] for r in rows
              if r["beam"] == beam}
        most = max(args.clients)
        lines.append(f"- beam {beam}: {of[('batched', most)] / of[('one at a time', most)]:.2f}× "
                     f"one at a time, {of[('batched', most)] / of[('s2sxp translate --input', None)]:.2f}× "
                     "the command line")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="the model to serve (a run folder or .npz)")
    p.add_argument("--data", default=TEST, help="the sentences: a pairs file [default: the "
                   "shared corpus's test.tsv]")
    p.add_argument("--source-column", type=int, default=2)
    p.add_argument("--count", type=int, default=1000, help="sentences [default: %(default)s]")
    p.add_argument("--clients", default="1,8,64", help="[default: %(default)s]")
    p.add_argument("--beams", default="1,5", help="[default: %(default)s]")
    p.add_argument("--seconds", type=float, default=120.0,
                   help="the longest a measurement runs [default: %(default)s]")
    p.add_argument("--out", default=results_folder("serve"))
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",")]
    args.beams = [int(b) for b in args.beams.split(",")]
    if not os.path.exists(args.data):
        p.error(f"no sentences at {args.data} (--data FILE)")
    sentences = sentences_of(args.data, args.source_column, args.count)
    args.run = os.path.abspath(args.run)
    with tempfile.TemporaryDirectory() as work, open(os.path.join(work, "server.log"), "w",
                                                     encoding="utf-8") as log:
        rows = measure(args, sentences, work, log)
    info = {"date": time.strftime("%Y-%m-%d"), "machine": machine_info(),
            "source": source_info()}
    write_record(record_stem(args.out, "serve", args.tag),
                 {"settings": vars(args), "rows": rows, **info}, report(rows, args, info))


if __name__ == "__main__":
    main()
