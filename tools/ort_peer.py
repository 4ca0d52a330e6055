#!/usr/bin/env python3
"""ONNX Runtime peer for `bqmlc bench --compare-ort`: a line protocol on stdin/stdout so that
bqmlc can alternate blocks of its own runs with blocks of ONNX Runtime's in one measurement.

    ort_peer.py MODEL --threads N --input NAME=FILE.npy [--input …]
    stdin  "run K\n" -> stdout "ms <t1> <t2> … <tK>\n" (wall milliseconds of K session.run)
    stdin  "quit\n"  -> exits
On start it prints "ready <load ms> <session options>" (or "error <message>" and exits 1).

Session: CPUExecutionProvider, ORT_ENABLE_ALL graph optimisations, ORT_SEQUENTIAL
execution, intra_op_num_threads = N, inter_op_num_threads = 1 — exactly the settings of
shared/tools/bench_ort.py, spinning included (ORT's default). bqmlc keeps the two sides
apart in time instead: it waits longer than ORT's spin after each ORT block.
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
    t0 = time.perf_counter()
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - t0) * 1e3
    feeds = {}
    for spec in args.input:
        name, path = spec.split("=", 1)
        feeds[name] = np.load(path)
    options = (
        f"intra_op_num_threads={so.intra_op_num_threads} inter_op_num_threads={so.inter_op_num_threads} "
        f"execution_mode=sequential graph_optimization_level=all allow_spinning=default "
        f"onnxruntime={ort.__version__}"
    )
    print(f"ready {load_ms:.3f} {options}", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if len(cmd) in (2, 3) and cmd[0] == "run":
            # "run N [IDLE_MS]": N timed runs, each after IDLE_MS of sleep.
            idle = float(cmd[2]) / 1e3 if len(cmd) == 3 else 0.0
            times = []
            for _ in range(int(cmd[1])):
                if idle > 0:
                    time.sleep(idle)
                t = time.perf_counter()
                sess.run(None, feeds)
                times.append((time.perf_counter() - t) * 1e3)
            print("ms " + " ".join(f"{t:.4f}" for t in times), flush=True)
        elif cmd == ["quit"]:
            break


if __name__ == "__main__":
    main()
