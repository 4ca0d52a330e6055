#!/usr/bin/env python3
"""GROUP BY over a 10-million-row Parquet table: bqmlc (DataFusion) against DuckDB.

Usage: benches/sql_groupby_vs_duckdb.py [--bqmlc target/release/bqmlc] [--rows 10000000]
                                         [--threads 2] [--rounds 5] [--dir DIR]

Writes the table once with DuckDB (DIR/t.parquet, Snappy, DuckDB's default row groups),
makes a bqmlc data directory whose external table `ds.t` reads it, then alternates rounds:
one `bqmlc query` process (wall time of the whole process, start-up included) and one
DuckDB query in a fresh Python process (`SET threads`, the query timed alone), never
overlapping. Both must return the same groups; prints each round and the median ratio
(DuckDB time / bqmlc time: > 0.5 means bqmlc is within 2x of DuckDB).
Needs the `duckdb` package (pip install duckdb).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

QUERIES = {
    # A low-cardinality GROUP BY with the usual aggregates.
    "by_label": "SELECT label AS k, COUNT(*) AS n, SUM(score) AS s, AVG(score) AS a, MAX(uri) AS m "
    "FROM {t} GROUP BY label ORDER BY k",
    # A high-cardinality key (100,000 groups).
    "by_uri": "SELECT uri AS k, COUNT(*) AS n, MIN(score) AS lo FROM {t} GROUP BY uri ORDER BY k LIMIT 5",
}


def make_table(path, rows):
    import duckdb

    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT i AS id,
                         CAST(hash(i) % 1000 AS BIGINT) AS label,
                         (i % 9973) / 9973.0 AS score,
                         'gs://bucket/images/img' || CAST(i % 100000 AS VARCHAR) || '.jpg' AS uri
                  FROM range({rows}) t(i))
            TO '{path}' (FORMAT PARQUET)"""
    )


DUCKDB_PEER = r"""
import duckdb, json, sys, time
path, threads, sql = sys.argv[1], int(sys.argv[2]), sys.argv[3]
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{path}')")
t0 = time.perf_counter()
rows = con.execute(sql).fetchall()
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "rows": [[str(v) for v in r] for r in rows]}))
"""


def run_duckdb(path, threads, sql):
    out = subprocess.run(
        [sys.executable, "-c", DUCKDB_PEER, path, str(threads), sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    r = json.loads(out)
    return r["seconds"], r["rows"]


def run_bqmlc(bqmlc, data_dir, threads, sql):
    t0 = time.perf_counter()
    out = subprocess.run(
        [bqmlc, "query", "--data-dir", data_dir, "--threads", str(threads), "--format", "json", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    dt = time.perf_counter() - t0
    return dt, json.loads(out)


def same_groups(duck_rows, bq_rows):
    """The group keys and counts agree (floating sums may differ in the last digits)."""
    d = [(r[0], int(r[1])) for r in duck_rows]
    b = [(str(r["k"]), int(r["n"])) for r in bq_rows]
    return d == b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bqmlc", default="target/release/bqmlc")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()

    work = args.dir or tempfile.mkdtemp(prefix="groupby-")
    os.makedirs(work, exist_ok=True)
    path = os.path.abspath(os.path.join(work, "t.parquet"))
    if not os.path.exists(path):
        t0 = time.perf_counter()
        make_table(path, args.rows)
        print(f"wrote {path} ({os.path.getsize(path) >> 20} MiB) in {time.perf_counter() - t0:.1f} s")
    data_dir = os.path.join(work, "data")
    subprocess.run(
        [
            args.bqmlc, "query", "--data-dir", data_dir,
            "CREATE SCHEMA IF NOT EXISTS ds; CREATE OR REPLACE EXTERNAL TABLE ds.t "
            f"OPTIONS(format = 'PARQUET', uris = ['{path}'])",
        ],
        check=True,
        capture_output=True,
    )
    for name, q in QUERIES.items():
        ratios, bq_times, duck_times = [], [], []
        for r in range(args.rounds):
            # Alternate which side goes first.
            order = ("bqmlc", "duckdb") if r % 2 == 0 else ("duckdb", "bqmlc")
            for side in order:
                if side == "bqmlc":
                    bt, brows = run_bqmlc(args.bqmlc, data_dir, args.threads, q.format(t="ds.t"))
                else:
                    dt, drows = run_duckdb(path, args.threads, q.format(t="t"))
            if not same_groups(drows, brows):
                sys.exit(f"{name}: bqmlc and DuckDB disagree:\n{drows[:5]}\n{brows[:5]}")
            bq_times.append(bt)
            duck_times.append(dt)
            ratios.append(dt / bt)
            print(f"{name} round {r + 1}: bqmlc {bt * 1000:.0f} ms, duckdb {dt * 1000:.0f} ms, ratio {dt / bt:.2f}")
        print(
            f"{name}: median bqmlc {statistics.median(bq_times) * 1000:.0f} ms, "
            f"duckdb {statistics.median(duck_times) * 1000:.0f} ms, "
            f"duckdb/bqmlc {statistics.median(ratios):.2f} (threads {args.threads}, {args.rows} rows)"
        )


if __name__ == "__main__":
    main()
