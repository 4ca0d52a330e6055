#!/usr/bin/env python3
"""ONNX Runtime peer for `bqmlc bench --compare-ort`: a line protocol on stdin/stdout so that
bqmlc can interleave its own runs with ONNX Runtime's (A B A B …) in one measurement.

    ort_peer.py MODEL --threads N --input NAME=FILE.npy [--input …]
    stdin  "run\n"  -> stdout "ms <wall milliseconds of one session.run>\n"
    stdin  "quit\n" -> exits
On start it prints "ready <load ms>" (or "error <message>" and exits 1).

Session: CPUExecutionProvider, ORT_ENABLE_ALL graph optimisations, ORT_SEQUENTIAL
execution, intra_op_num_threads = N, inter_op_num_threads = 1 — the settings of
shared/tools/bench_ort.py — plus session.intra_op.allow_spinning=0 so that ORT's idle
workers do not spin into bqmlc's interleaved runs.
"""
import argparse
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--input", action="append", default=[])
    args = ap.parse_args()
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        print(f"error {e}", flush=True)
        sys.exit(1)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    # ORT's worker threads otherwise keep spinning after each run and steal the CPU from
    # the bqmlc run that follows; interleaved measurements need both engines idle between runs.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    t0 = time.perf_counter()
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - t0) * 1e3
    feeds = {}
    for spec in args.input:
        name, path = spec.split("=", 1)
        feeds[name] = np.load(path)
    print(f"ready {load_ms:.3f}", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "run":
            t = time.perf_counter()
            sess.run(None, feeds)
            print(f"ms {(time.perf_counter() - t) * 1e3:.4f}", flush=True)
        elif cmd == "quit":
            break


if __name__ == "__main__":
    main()
