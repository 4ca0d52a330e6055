#!/usr/bin/env python3
"""Runs an ONNX model on ONNX Runtime (CPU, one thread): ort_run.py MODEL INPUT.npy OUTPUT.npy.
The model's only input gets INPUT.npy; its first output is written to OUTPUT.npy.
Used by tests as an oracle for shapes no stored reference covers (e.g. other batch sizes)."""
import sys

import numpy as np
import onnxruntime as ort

model, inp, out = sys.argv[1:4]
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
x = np.load(inp)
y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
np.save(out, y)
