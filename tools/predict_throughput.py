#!/usr/bin/env python3
"""ML.PREDICT throughput: bqmlc on 1 and 2 threads against a Python ONNX Runtime + Pillow loop.

Sets up COPIES images (copies of the shared JPEGs) in a temporary Cloud Storage root, imports
EfficientNet-Lite0 (the tutorial wrapper) into a temporary bqmlc data directory, then for each
round times, in rotating order:
  - `bqmlc query --threads N` running the tutorial's ML.PREDICT over all images (the whole
    process: start-up, model compile, listing, decode, resize, predict, output), N = 1, 2;
  - a Python loop doing the same work per image: Pillow decode + tf-style resize
    (shared/tools/preprocess.py) + onnxruntime (intra-op threads 1, then 2).
With --baseline BIN, another bqmlc build (e.g. an older commit) runs the same query on its own
data directory in the same rotation, so a change's throughput is compared on one machine.
Prints one markdown table of median images/s, the 2-thread/1-thread scaling of bqmlc, and
checks that bqmlc and ONNX Runtime agree on each image's class_label (the JPEG decoders
differ slightly, so a disagreement is reported, not fatal).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
QUERY = ("SELECT uri, class_label FROM ML.PREDICT(MODEL `ds.m`, (SELECT uri, "
         "ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input FROM ds.t))")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bqmlc", default=os.path.join(HERE, "..", "target", "release", "bqmlc"))
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared"))
    ap.add_argument("--copies", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", help="another bqmlc binary to time beside --bqmlc")
    args = ap.parse_args()

    shared = os.path.abspath(args.shared)
    sys.path.insert(0, os.path.join(shared, "tools"))
    import numpy as np
    import onnxruntime as ort
    import preprocess

    img_dir = os.path.join(shared, "data", "images")
    jpegs = sorted(f for f in os.listdir(img_dir) if f.endswith(".jpg"))
    model = os.path.join(shared, "models", "efficientnet_lite0_tutorial.onnx")
    tmp = tempfile.mkdtemp(prefix="bqmlc-throughput-")
    try:
        bucket = os.path.join(tmp, "gcs", "b")
        os.makedirs(bucket)
        os.makedirs(os.path.join(tmp, "gcs", "models"))
        shutil.copy(model, os.path.join(tmp, "gcs", "models", "m.onnx"))
        files = []
        for i in range(args.copies):
            src = jpegs[i % len(jpegs)]
            dst = os.path.join(bucket, f"{i:04d}_{src}")
            shutil.copy(os.path.join(img_dir, src), dst)
            files.append(dst)
        def setup(binary, data):
            env = dict(os.environ, BQMLC_DATA_DIR=os.path.join(tmp, data),
                       BQMLC_GCS_ROOT=os.path.join(tmp, "gcs"))
            subprocess.run([binary, "query",
                            "CREATE SCHEMA ds; CREATE MODEL ds.m OPTIONS(MODEL_TYPE='ONNX', "
                            "MODEL_PATH='gs://models/m.onnx'); CREATE EXTERNAL TABLE ds.t "
                            "OPTIONS(object_metadata='SIMPLE', uris=['gs://b/*'])"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
            return env

        envs = {args.bqmlc: setup(args.bqmlc, "data")}
        if args.baseline:
            envs[args.baseline] = setup(args.baseline, "data-baseline")

        def bqmlc(threads, binary=args.bqmlc):
            out = subprocess.run([binary, "query", "--format", "csv", "--threads",
                                  str(threads), QUERY], env=envs[binary], check=True,
                                 capture_output=True, text=True).stdout
            rows = [l.split(",") for l in out.strip().splitlines()[1:]]
            return {u.rsplit("/", 1)[1]: int(c) for u, c in rows}

        sessions = {}

        def python_loop(threads):
            if threads not in sessions:
                so = ort.SessionOptions()
                so.intra_op_num_threads = threads
                sessions[threads] = ort.InferenceSession(
                    model, so, providers=["CPUExecutionProvider"])
            s = sessions[threads]
            name = s.get_inputs()[0].name
            labels = {}
            for f in files:
                x = preprocess.load_input(f)
                labels[os.path.basename(f)] = int(np.asarray(s.run(None, {name: x})[0]).ravel()[0])
            return labels

        configs = [("bqmlc ML.PREDICT, 1 thread", lambda: bqmlc(1)),
                   ("bqmlc ML.PREDICT, 2 threads", lambda: bqmlc(2)),
                   ("Python loop: Pillow + ONNX Runtime, 1 intra-op thread", lambda: python_loop(1)),
                   ("Python loop: Pillow + ONNX Runtime, 2 intra-op threads", lambda: python_loop(2))]
        if args.baseline:
            configs += [("baseline bqmlc ML.PREDICT, 1 thread", lambda: bqmlc(1, args.baseline)),
                        ("baseline bqmlc ML.PREDICT, 2 threads", lambda: bqmlc(2, args.baseline))]
        times = {name: [] for name, _ in configs}
        labels = {}
        for r in range(args.rounds):
            order = configs[r % len(configs):] + configs[:r % len(configs)]
            for name, fn in order:
                t0 = time.perf_counter()
                labels[name] = fn()
                times[name].append(time.perf_counter() - t0)
                print(f"round {r + 1}: {name}: {args.copies / times[name][-1]:.1f} images/s",
                      file=sys.stderr)
        load = os.getloadavg()
        print(f"{args.copies} JPEGs (copies of {', '.join(jpegs)}), EfficientNet-Lite0, "
              f"{args.rounds} rounds, median; load average after: {load[0]:.2f}\n")
        print("| configuration | images/s (median) | seconds (median) |")
        print("|---|---|---|")
        med = {}
        for name, _ in configs:
            m = statistics.median(times[name])
            med[name] = m
            print(f"| {name} | {args.copies / m:.1f} | {m:.2f} |")
        print(f"\nbqmlc 2 threads / 1 thread: {med[configs[0][0]] / med[configs[1][0]]:.2f}x")
        print(f"bqmlc 2 threads / Python loop 1 thread: {med[configs[2][0]] / med[configs[1][0]]:.2f}x; "
              f"/ Python loop 2 threads: {med[configs[3][0]] / med[configs[1][0]]:.2f}x")
        a, b = labels[configs[1][0]], labels[configs[2][0]]
        agree = sum(a[k] == b.get(k) for k in a)
        print(f"class_label agreement bqmlc vs ONNX Runtime: {agree}/{len(a)}")
        if args.baseline:
            base = configs[5][0]
            print(f"bqmlc 2 threads / baseline 2 threads: {med[base] / med[configs[1][0]]:.2f}x; "
                  f"1 thread: {med[configs[4][0]] / med[configs[0][0]]:.2f}x")
            if labels[base] != a:
                print("class_label differs between bqmlc and the baseline")
        if labels[configs[0][0]] != a:
            sys.exit("bqmlc results differ between 1 and 2 threads")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
