#!/usr/bin/env python3
"""Ratio table of a bench/compare run: reads <system>-<workload>-c<N>-r<rep>.json
and fsync.json from the given directory, prints markdown."""
import glob
import json
import math
import os
import statistics
import sys

d = sys.argv[1]
runs = {}
for path in glob.glob(os.path.join(d, "*-c*-r*.json")):
    r = json.load(open(path))
    # (requests in flight in all, clients)
    shape = (r.get("in_flight", r["concurrency"]), r.get("clients", 1))
    # coffer-noaudit-…: coffer with auditing off, set against the same etcd runs
    system = "coffer-noaudit" if os.path.basename(path).startswith("coffer-noaudit-") else r["system"]
    runs.setdefault((r["workload"], shape, system), []).append(r)

def label(shape):
    n, clients = shape
    return f"{n}" if clients == 1 else f"{n} ({clients} clients)"

def mean(rs, f):
    return statistics.mean(f(r) for r in rs)

def compared(etcd, systems=("coffer", "coffer-noaudit")):
    """(workload, shape, system, coffer req/s, etcd req/s, coffer p99,
    etcd p99) of every shape that the system and this etcd both ran."""
    for (w, c) in sorted({(w, c) for (w, c, _) in runs}):
        for system in systems:
            co, et = runs.get((w, c, system)), runs.get((w, c, etcd))
            if co and et:
                yield (w, c, system, mean(co, lambda r: r["throughput_per_sec"]),
                       mean(et, lambda r: r["throughput_per_sec"]),
                       mean(co, lambda r: r["latency_ms"]["p99"]), mean(et, lambda r: r["latency_ms"]["p99"]))


# Against etcd over TLS (as coffer always runs) first, then etcd in plaintext.
ETCDS = (("etcd", "etcd (TLS)"), ("etcd-plaintext", "etcd (plaintext)"))
print("| workload | in flight | coffer req/s | etcd req/s | throughput coffer/etcd | coffer p99 ms | etcd p99 ms | p99 coffer/etcd |")
print("|---|---|---|---|---|---|---|---|")
for etcd, _ in ETCDS:
    for (w, c, system, ct, eth, cp, ep) in compared(etcd):
        note = (", coffer audit off" if system == "coffer-noaudit" else "") + (", etcd plaintext" if etcd != "etcd" else "")
        print(f"| {w}{note} | {label(c)} | {ct:,.0f} | {eth:,.0f} | **{ct / eth:.2f}x** "
              f"| {cp:.2f} | {ep:.2f} | {cp / ep:.2f}x |")

def tail(p):
    return -math.log10(max(1e-4, 1 - p / 100.0))

def comparison_svg(workload, conc, co, et):
    """Latency percentile curves of both systems on one chart."""
    w, h, pad = 640, 300, 64
    series = [("coffer", "#1f77b4", co[0]["percentile_curve"]), ("etcd", "#ff7f0e", et[0]["percentile_curve"])]
    ymax = max(ms for _, _, c in series for _, ms in c) * 1.1 or 1
    xmax = tail(99.99)
    sx = lambda p: pad + tail(p) / xmax * (w - 2 * pad)
    sy = lambda ms: h - pad - ms / ymax * (h - 2 * pad)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{pad}" y="20" font-size="14" font-family="sans-serif">{workload}, {label(conc)} in flight: latency by percentile</text>',
           f'<line x1="{pad}" y1="{h-pad}" x2="{w-pad}" y2="{h-pad}" stroke="#333"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h-pad}" stroke="#333"/>']
    for p in [0, 50, 90, 99, 99.9, 99.99]:
        out.append(f'<text x="{sx(p):.1f}" y="{h-pad+14}" font-size="10" font-family="sans-serif" text-anchor="middle">{p}%</text>')
    for frac in [0, 0.5, 1]:
        y = ymax / 1.1 * frac
        out.append(f'<text x="{pad-4}" y="{sy(y)+3:.1f}" font-size="10" font-family="sans-serif" text-anchor="end">{y:.2f} ms</text>')
    for i, (name, color, curve) in enumerate(series):
        pts = " ".join(f"{sx(p):.1f},{sy(ms):.1f}" for p, ms in curve)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>')
        out.append(f'<text x="{pad+10}" y="{pad+16*i}" font-size="12" font-family="sans-serif" fill="{color}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out)

for (w, c) in sorted({(w, c) for (w, c, _) in runs}):
    co, et = runs.get((w, c, "coffer")), runs.get((w, c, "etcd"))
    if co and et:
        name = f"c{c[0]}" + (f"-{c[1]}clients" if c[1] > 1 else "")
        with open(os.path.join(d, f"compare-{w}-{name}.svg"), "w") as f:
            f.write(comparison_svg(w, c, co, et))

# A single client's write p50, at most this multiple of the floor.
SINGLE_CLIENT_TARGET = 1.5


def single_client_p50(system):
    single = runs.get(("write", (1, 1), system))
    return mean(single, lambda r: r["latency_ms"]["p50"]) if single else None


floor = None
fs = os.path.join(d, "fsync.json")
if os.path.exists(fs):
    f = json.load(open(fs))
    print()
    print(f"Disk floor: {f['syncs_per_sec']:,.0f} fdatasync/s, p50 {f['p50_ms']:.3f} ms, p99 {f['p99_ms']:.3f} ms.")
    rtt = runs.get(("read-stale", (1, 1), "coffer-noaudit"))
    if rtt:
        rtt_ms = mean(rtt, lambda r: r["latency_ms"]["p50"])
        floor = rtt_ms + f["p50_ms"]
        print(f"Round trip: p50 {rtt_ms:.3f} ms (coffer stale read, auditing off, 1 in flight: no Raft, no disk). "
              f"Write floor = round trip + fdatasync = {floor:.3f} ms.")
        for system in ("coffer", "etcd", "etcd-plaintext"):
            p50 = single_client_p50(system)
            if p50:
                print(f"Single-client {system} write p50 {p50:.2f} ms = **{p50 / floor:.2f}x** the floor "
                      f"(target for coffer: within {SINGLE_CLIENT_TARGET}x).")


def verdict(ok):
    return "**met**" if ok else "not met"


# The targets of bench/RESULTS.md, each against each etcd: writes under load
# at least as fast with a p99 no worse, audited linearizable reads at least
# as fast, and a single client's write within 1.5x of the floor.
print()
print("Targets:")
print()
print("| target | " + " | ".join(f"against {name}" for _, name in ETCDS) + " |")
print("|---|" + "---|" * len(ETCDS))
for w, c in sorted({(w, c) for (w, c, _) in runs if w in ("write", "read") and c != (1, 1)}):
    cells = []
    for etcd, _ in ETCDS:
        row = [r for r in compared(etcd, ("coffer",)) if r[:2] == (w, c)]
        if not row:
            cells.append("not run")
            continue
        ct, eth, cp, ep = row[0][3:]
        if w == "write":
            cells.append(f"{verdict(ct >= eth and cp <= ep)} ({ct / eth:.2f}x, p99 {cp / ep:.2f}x)")
        else:
            cells.append(f"{verdict(ct >= eth)} ({ct / eth:.2f}x)")
    want = "writes, {} in flight: ≥ 1.0x throughput, p99 no worse" if w == "write" else \
        "audited reads, {} in flight: ≥ 1.0x throughput"
    print(f"| {want.format(label(c))} | " + " | ".join(cells) + " |")
p50 = single_client_p50("coffer")
if floor and p50:
    # The target is coffer's alone; each etcd's multiple is there to compare.
    cells = []
    for etcd, name in ETCDS:
        theirs = single_client_p50(etcd)
        cells.append(f"{verdict(p50 <= SINGLE_CLIENT_TARGET * floor)} ({p50 / floor:.2f}x; {name}: "
                     + (f"{theirs / floor:.2f}x)" if theirs else "not run)"))
    print(f"| single-client write p50 ≤ {SINGLE_CLIENT_TARGET}x (round trip + fdatasync) | " + " | ".join(cells) + " |")
