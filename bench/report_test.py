#!/usr/bin/env python3
"""Tests of bench/report.py on made-up results: the ratios, the floor and
the verdict on each target. Run by scripts/test."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def result(system, workload, clients, per_client, req_s, p50, p99):
    return {
        "system": system, "workload": workload, "clients": clients, "concurrency": per_client,
        "in_flight": clients * per_client, "throughput_per_sec": req_s,
        "latency_ms": {"p50": p50, "p99": p99}, "percentile_curve": [[0.0, p50 / 2], [50.0, p50], [99.0, p99]],
    }


def report(results, fsync):
    with tempfile.TemporaryDirectory() as d:
        for name, r in results.items():
            with open(os.path.join(d, name + ".json"), "w") as f:
                json.dump(r, f)
        with open(os.path.join(d, "fsync.json"), "w") as f:
            json.dump(fsync, f)
        out = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), d],
                             check=True, capture_output=True, text=True).stdout
        plots = sorted(p for p in os.listdir(d) if p.endswith(".svg"))
    return out, plots


def row(out, starts):
    lines = [line for line in out.splitlines() if line.startswith(starts)]
    assert len(lines) == 1, (starts, out)
    return lines[0]


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.results = {
            # writes under load: faster than TLS etcd with a lower p99; faster
            # than plaintext etcd but with a worse p99
            "coffer-write-c32-r1": result("coffer", "write", 1, 32, 8000, 3, 6),
            "etcd-write-c32-r1": result("etcd", "write", 1, 32, 4000, 6, 12),
            "etcd-plaintext-write-c32-r1": result("etcd-plaintext", "write", 1, 32, 6000, 2, 4),
            # reads: ahead of one etcd, behind the other
            "coffer-read-c32-r1": result("coffer", "read", 1, 32, 10000, 2, 4),
            "etcd-read-c32-r1": result("etcd", "read", 1, 32, 8000, 3, 6),
            "etcd-plaintext-read-c32-r1": result("etcd-plaintext", "read", 1, 32, 12500, 2, 3),
            "coffer-noaudit-read-c32-r1": result("coffer", "read", 1, 32, 20000, 1, 2),
            # single client: floor = 0.1 round trip + 0.2 fdatasync = 0.3 ms
            "coffer-write-c1-r1": result("coffer", "write", 1, 1, 900, 0.6, 2),
            "etcd-write-c1-r1": result("etcd", "write", 1, 1, 1000, 0.9, 2),
            "etcd-plaintext-write-c1-r1": result("etcd-plaintext", "write", 1, 1, 1200, 0.75, 2),
            "coffer-noaudit-read-stale-c1-r1": result("coffer", "read-stale", 1, 1, 10000, 0.1, 0.2),
        }
        self.fsync = {"syncs_per_sec": 5000, "p50_ms": 0.2, "p99_ms": 0.4}

    def test_ratios_floor_and_targets(self):
        out, plots = report(self.results, self.fsync)
        self.assertIn("| write | 32 | 8,000 | 4,000 | **2.00x** | 6.00 | 12.00 | 0.50x |", out)
        self.assertIn("| read, coffer audit off, etcd plaintext | 32 | 20,000 | 12,500 | **1.60x**", out)
        self.assertIn("Write floor = round trip + fdatasync = 0.300 ms.", out)
        self.assertIn("Single-client coffer write p50 0.60 ms = **2.00x** the floor", out)
        self.assertEqual(row(out, "| writes, 32 in flight"),
                         "| writes, 32 in flight: ≥ 1.0x throughput, p99 no worse "
                         "| **met** (2.00x, p99 0.50x) | not met (1.33x, p99 1.50x) |")
        self.assertEqual(row(out, "| audited reads, 32 in flight"),
                         "| audited reads, 32 in flight: ≥ 1.0x throughput | **met** (1.25x) | not met (0.80x) |")
        self.assertEqual(row(out, "| single-client"),
                         "| single-client write p50 ≤ 1.5x (round trip + fdatasync) "
                         "| not met (2.00x; etcd (TLS): 3.00x) | not met (2.00x; etcd (plaintext): 2.50x) |")
        self.assertEqual(plots, ["compare-read-c32.svg", "compare-write-c1.svg", "compare-write-c32.svg"])

    def test_single_client_within_the_target(self):
        self.results["coffer-write-c1-r1"] = result("coffer", "write", 1, 1, 2000, 0.45, 1)
        out, _ = report(self.results, self.fsync)
        self.assertIn("| **met** (1.50x; etcd (TLS): 3.00x) |", row(out, "| single-client"))

    def test_a_shape_one_etcd_did_not_run(self):
        del self.results["etcd-plaintext-read-c32-r1"]
        out, _ = report(self.results, self.fsync)
        self.assertEqual(row(out, "| audited reads, 32 in flight"),
                         "| audited reads, 32 in flight: ≥ 1.0x throughput | **met** (1.25x) | not run |")


class AbSummary(unittest.TestCase):
    """bench/ab's summary: pairs are consecutive runs, in either order."""

    def test_pairs_won_and_the_spread_of_their_ratios(self):
        sys.path.insert(0, HERE)
        from ab_summary import summarize

        def run(req_s, p99):
            return {"throughput_per_sec": req_s, "latency_ms": {"p50": 1.0, "p99": p99}, "errors": 0}
        runs = [("A", run(100, 2.0)), ("B", run(110, 2.0)),   # B/A 1.10
                ("B", run(90, 4.0)), ("A", run(100, 2.0)),    # 0.90
                ("A", run(100, 2.0)), ("B", run(105, 3.0))]   # 1.05
        lines = summarize("read", "32", runs)
        self.assertEqual(len(lines), 8)
        self.assertEqual(lines[0], "A: 100 req/s  p50 1.00 ms  p99 2.00 ms  errors 0")
        self.assertEqual(lines[6], "read c=32: A 100/s  B 102/s  throughput B/A 1.02x  p99 B/A 1.50x")
        self.assertEqual(lines[7], "B ahead in 2 of 3 pairs; per-pair B/A 0.90x to 1.10x (median 1.05x)")


if __name__ == "__main__":
    unittest.main()
