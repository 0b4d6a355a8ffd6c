#!/usr/bin/env python3
"""The summary of an A/B run by bench/ab: each run, then B/A of the mean
throughput and p99, how many pairs B won, and the range of the per-pair
throughput ratios. A change smaller than that range is not told apart from
the machine's run-to-run noise by this many pairs (runs of one binary
spread by ±8%, bench/RESULTS.md): run more pairs, or compare CPU per request.

    ab_summary.py WORKLOAD CONCURRENCY "LABEL PATH"...

The runs are given in the order they ran, alternating A B, B A, ...: each
two consecutive runs are a pair.
"""
import json
import statistics
import sys


def summarize(workload, conc, runs):
    """Lines of the summary of `runs`, a list of (label, result) in run order."""
    lines = []
    by = {"A": [], "B": []}
    for label, r in runs:
        by[label].append(r)
        lines.append(f"{label}: {r['throughput_per_sec']:,.0f} req/s  p50 {r['latency_ms']['p50']:.2f} ms  "
                     f"p99 {r['latency_ms']['p99']:.2f} ms  errors {r['errors']}")
    t = {k: statistics.mean(x["throughput_per_sec"] for x in v) for k, v in by.items()}
    p = {k: statistics.mean(x["latency_ms"]["p99"] for x in v) for k, v in by.items()}
    ratios = []
    for first, second in zip(runs[0::2], runs[1::2]):
        pair = dict([first, second])
        ratios.append(pair["B"]["throughput_per_sec"] / pair["A"]["throughput_per_sec"])
    won = sum(1 for r in ratios if r > 1)
    lines.append(f"{workload} c={conc}: A {t['A']:,.0f}/s  B {t['B']:,.0f}/s  throughput B/A {t['B'] / t['A']:.2f}x  "
                 f"p99 B/A {p['B'] / p['A']:.2f}x")
    lines.append(f"B ahead in {won} of {len(ratios)} pairs; per-pair B/A {min(ratios):.2f}x to {max(ratios):.2f}x "
                 f"(median {statistics.median(ratios):.2f}x)")
    return lines


def main(argv):
    workload, conc, args = argv[1], argv[2], argv[3:]
    runs = []
    for a in args:
        label, path = a.split(" ", 1)
        with open(path) as f:
            runs.append((label, json.load(f)))
    print("\n".join(summarize(workload, conc, runs)))


if __name__ == "__main__":
    main(sys.argv)
