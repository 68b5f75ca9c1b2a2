"""The epoch-cost benchmark's report: a Markdown table, a bar chart, and the three files of a run
(JSON with every figure, the Markdown, the PNG); and the Markdown of the padded benchmark."""
import json
import os

from s2sxp.files import atomic_write

VARIANTS = ("ours", "reference", "torch")
LABELS = {"ours": "s2sxp", "reference": "s2sxp reference", "torch": "PyTorch"}
COLORS = {"ours": "#1f77b4", "reference": "#ff7f0e", "torch": "#2ca02c"}


def _ms(v):
    return "–" if v is None else f"{v:.1f}"


def _x(v):
    return "–" if v is None else f"{v:.2f}"


def _ratio_text(r):
    return "–" if r is None else (f"{r['of_medians']:.2f} "
                                  f"[{r['paired_q1']:.2f}–{r['paired_q3']:.2f}]")


def markdown(report):
    """The report as Markdown: headline, training table, side-by-side ratios, GEMM rates and,
    when asked for, the profiles."""
    m, d, st = report["machine"], report["result"], report["settings"]
    s = d["sizes"]
    cpu = m["cpu"]
    versions = [f"NumPy {m['numpy']}"]
    if m["blas"]:
        versions[0] += f" ({m['blas'].get('name', '')} {m['blas'].get('version', '')})".rstrip()
    if "torch" in m:
        versions.append(f"PyTorch {m['torch']} ({m['torch_threads']} threads)")
    where = f"{cpu['model']}, {cpu['usable_cores']} cores"
    if "gpu" in d:
        where = f"{d['gpu']['name']} (CuPy {d['gpu']['cupy']}); host {where}"
    env = " ".join(f"{k}={v}" for k, v in m["thread_env"].items())
    source = report.get("source", {})
    out = [f"# s2sxp bench: {d['device']}, {report['date']}", "",
           f"{where}; {', '.join(versions)}.  ",
           f"Sizes: V={s['V']}, D={s['D']}, H={s['H']}, batch {s['N']}, T_enc {s['T_enc']}, "
           f"T_dec {s['T_dec']}; {d['train_questions']} training questions = "
           f"{d['iterations_per_epoch']} iterations per epoch; evaluation: greedy decoding of "
           f"{d['eval_questions']} test questions in batches of {d['eval_batch']}.  ",
           f"{st['iterations']} timed iterations after {st['warmup']} warm-up ones and "
           f"{st['eval_repeats']} evaluations, round-robin over every model and variant"
           + (f" with {st['settle']:g} s of pause between them" if st.get("settle") else "")
           + "; "
           f"load average {d['load_average']['start'][0]:.1f} at the start, "
           f"{d['load_average']['end'][0]:.1f} at the end; {d['wall_s']:.0f} s in all.  ",
           f"Command: `{(env + ' ') if env else ''}{report['command']}`"
           + (f" at {source['commit'][:10]}"
              + (f" with local changes to {', '.join(source['modified'])}"
                 if source.get("modified") else "") if source.get("commit") else "") + ".", ""]

    epoch = f"epoch ({d['iterations_per_epoch']} it.) s"
    out += ["## Training: ms per iteration", "",
            f"| model | variant | median | IQR | min–max | {epoch} | GFLOP/s | × GEMM bound |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in d["rows"]:
        for variant, t in row["train"].items():
            out.append(f"| {row['model']} | {LABELS[variant]} | {_ms(t['median'])} | "
                       f"{_ms(t['q1'])}–{_ms(t['q3'])} | {_ms(t['min'])}–{_ms(t['max'])} | "
                       f"{t['epoch_s']:.1f} | {_ms(t['gflops'])} | {_x(t.get('x_gemm_bound'))} |")

    n = d["eval_questions"]
    out += ["", "## Side by side", "",
            "Ratios are of the medians; in brackets the quartiles of the ratios of samples taken "
            "in the same round. GEMM bound: the iteration's GEMMs at the best rate measured at "
            "each one's shape (table below); at best rate: all its FLOPs at the best rate "
            "measured at any shape.", "",
            f"| model | GFLOP/iter | GEMM bound ms | at best rate ms | ours/reference | "
            f"ours/PyTorch | eval {n} q: ours s | reference s | PyTorch s | eval ours/PyTorch |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in d["rows"]:
        bound = row.get("gemm_bound_ms", {})
        tr, ev = row["ratios"]["train"], row["ratios"]["eval"]
        e = {k: _x(row["eval"][k]["median"]) if k in row["eval"] else "–"
             for k in ("ours", "reference", "torch")}
        out.append(f"| {row['model']} | {_x(row['flops'] / 1e9 if row['flops'] else None)} | "
                   f"{_ms(bound.get('at_shape_rates'))} | {_ms(bound.get('at_best_rate'))} | "
                   f"{_ratio_text(tr.get('ours/reference'))} | "
                   f"{_ratio_text(tr.get('ours/torch'))} | "
                   f"{e['ours']} | {e['reference']} | {e['torch']} | "
                   f"{_ratio_text(ev.get('ours/torch'))} |")

    attention = next((row for row in d["rows"] if row["kind"] == "attention"), None)
    if attention is not None and "ours/attention" in attention["ratios"]["train"]:
        base = attention.get("gemm_bound_ms", {}).get("at_shape_rates")
        out += ["", "## Against AttentionSeq2seq", "",
                "Each model's iteration against AttentionSeq2seq's (ours, both): the ratio of the "
                "medians, in brackets the quartiles of the ratios of samples taken in the same "
                "round; and the ratio of their GEMM bounds.", "",
                "| model | iteration ÷ AttentionSeq2seq's | GEMM bound ÷ AttentionSeq2seq's |",
                "|---|---:|---:|"]
        for row in d["rows"]:
            bound = row.get("gemm_bound_ms", {}).get("at_shape_rates")
            out.append(f"| {row['model']} | "
                       f"{_ratio_text(row['ratios']['train'].get('ours/attention'))} | "
                       f"{_x(bound / base if bound and base else None)} |")

    if d["gemm_throughput"]:
        out += ["", f"## GEMM throughput at the step's shapes ({d['device']}, float32)", "",
                "GFLOP/s, the better of the runs at the start and at the end: one GEMM with "
                "BLAS's own threads, and one single-threaded GEMM per core at once (aggregate).",
                "", "| product | one of | one GEMM | one per core | best |",
                "|---|---|---:|---:|---:|"]
        for r in d["gemm_throughput"]:
            out.append(f"| {r['shape']} | {r['example']} | {r['one_gflops']:.1f} | "
                       f"{_ms(r['split_gflops'])} | {r['gflops']:.1f} |")

    for row in d["rows"]:
        if "profile" not in row:
            continue
        p = row["profile"]
        out += ["", f"## Profile of one training iteration: {row['model']} "
                f"({p['total_ms']:.0f} ms under cProfile)", "",
                "NumPy's ufuncs (matmul, exp, multiply, ...) are not seen by cProfile: their time "
                "is the own time of the Python function that calls them.", "",
                "| function | calls | own ms | share | cumulative ms |",
                "|---|---:|---:|---:|---:|"]
        for f in p["top"]:
            out.append(f"| `{f['function']}` | {f['ncalls']} | {f['tottime_ms']:.1f} | "
                       f"{100 * f['share']:.0f}% | {f['cumtime_ms']:.1f} |")

    if d["notes"]:
        out += ["", "Notes: " + "; ".join(d["notes"]) + "."]
    return "\n".join(out) + "\n"


def plot(report, path):
    """Bar chart: ms per training iteration (with each model's GEMM bound) and seconds per
    evaluation, per model and variant."""
    from matplotlib.figure import Figure

    d = report["result"]
    rows = d["rows"]
    fig = Figure(figsize=(max(8.0, 1.7 * len(rows) + 3), 8.0), dpi=110)
    axes = fig.subplots(2, 1)
    panels = (("train", "training: ms per iteration (median; whiskers span the IQR)"),
              ("eval", f"evaluation of {d['eval_questions']} questions: s (median; whiskers "
                       "span the IQR)"))
    for ax, (part, title) in zip(axes, panels):
        present = [v for v in VARIANTS if any(v in row[part] for row in rows)]
        width = 0.8 / max(len(present), 1)
        top = max((row[part][v]["q3"] for row in rows for v in present if v in row[part]),
                  default=1.0)
        for j, variant in enumerate(present):
            xs, heights, low, high = [], [], [], []
            for i, row in enumerate(rows):
                if variant in row[part]:
                    t = row[part][variant]
                    xs.append(i + (j - (len(present) - 1) / 2) * width)
                    heights.append(t["median"])
                    low.append(t["median"] - t["q1"])
                    high.append(t["q3"] - t["median"])
            bars = ax.bar(xs, heights, width * 0.95, yerr=[low, high], capsize=2,
                          color=COLORS[variant], label=LABELS[variant])
            fmt = "{:.0f}" if part == "train" else "{:.2f}"
            ax.bar_label(bars, labels=[fmt.format(h) for h in heights], padding=2, fontsize=7)
        if part == "train":
            label = "GEMM bound"
            for i, row in enumerate(rows):
                if "gemm_bound_ms" in row:
                    ax.hlines(row["gemm_bound_ms"]["at_shape_rates"], i - 0.45, i + 0.45,
                              colors="black", linestyles="dashed", linewidth=1, label=label)
                    label = None
        ax.set_xticks(range(len(rows)), [row["model"] for row in rows])
        ax.set_ylim(0, top * 1.25)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, ncols=len(present) + 1, loc="upper left")
    where = d["gpu"]["name"] if "gpu" in d else report["machine"]["cpu"]["model"]
    s = d["sizes"]
    fig.suptitle(f"s2sxp bench, {d['device']} ({where}), {report['date']}: "
                 f"H={s['H']}, batch {s['N']}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)


def write(report, out, stem):
    """DATE-DEVICE.json, .md and .png in ``out``; returns their paths."""
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, f"{stem}.{ext}") for ext in ("json", "md", "png")]
    atomic_write(paths[0], lambda f: f.write(json.dumps(report, indent=1).encode()))
    atomic_write(paths[1], lambda f: f.write(markdown(report).encode()))
    plot(report, paths[2])
    return paths


def padded_markdown(report):
    r, s = report["result"], report["settings"]
    c = r["corpus"]
    lines = [f"# What a padded, bucketed epoch costs per token ({report['date']}, cpu)", "",
             f"`{report['command']}`", "",
             f"Machine: {report['machine']['cpu'].get('model', '?')}; NumPy "
             f"{report['machine'].get('numpy', '?')}; PyTorch "
             f"{report['machine'].get('torch') or 'not installed'}. Sizes: D={s['wordvec_size']}, "
             f"H={s['hidden_size']}, batch {s['batch_size']}; {s['iterations']} timed iterations "
             "a variant, round-robin, no pauses.", "",
             f"Corpus: {c['train']} training pairs of 1-{s['max_words']} generated words, by "
             f"characters (V={c['vocab']}); source length {c['source_length']['min']}-"
             f"{c['source_length']['max']} (median {c['source_length']['median']:g}), target "
             f"{c['target_length']['min']}-{c['target_length']['max']}. Date: the book's data, "
             "29 + 11 tokens a question.", "",
             "µs per real token (padding not counted), median of the iterations; epoch = that "
             "times the epoch's real tokens.", "",
             "| model | layout | padding | ours µs/token | ours epoch s | PyTorch µs/token "
             "| PyTorch epoch s | ours/PyTorch |",
             "|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        for name, entry in row["layouts"].items():
            ours, torch = entry.get("ours"), entry.get("torch")
            ratio = row["ratios"].get(f"ours/torch: {name}")
            lines.append(
                f"| {row['model']} | {name} | {100 * entry['padding']:.0f}% | "
                f"{ours['median']:.2f} | {ours['epoch_s']:.1f} | "
                + (f"{torch['median']:.2f} | {torch['epoch_s']:.1f} | "
                   f"{ratio['paired_median']:.2f}" if torch else "– | – | –") + " |")
    lines += ["", "Ratios per token, paired median (quartiles):", ""]
    for row in r["rows"]:
        parts = [f"{k} {v['paired_median']:.2f} ({v['paired_q1']:.2f}-{v['paired_q3']:.2f})"
                 for k, v in row["ratios"].items() if not k.startswith("ours/torch")]
        lines.append(f"- {row['model']}: " + "; ".join(parts))
    la = r["load_average"]
    lines += ["", f"Load average {la['start'][0]:.1f} at the start, {la['end'][0]:.1f} at the "
              f"end; {r['wall_s']:.0f} s.", ""]
    return "\n".join(lines)
