#!/usr/bin/env python3
"""Small transformers in the shapes of the exporters' output, for testing the compiler on
graphs it was not written against: built with onnx.helper (random weights, the graph builder
of cnn_zoo.py), checked by onnx.checker, run on ONNX Runtime for the expected output.

    transformer_zoo.py OUTDIR   ->  OUTDIR/<name>.onnx, <name>.input.npy, <name>.output.npy

Models (NCHW input [N, 3, 32, 32] with a symbolic batch, logits [N, 10]):
  vit_op13   ViT at opset 13: patch Conv, class token through the exporter's shape arithmetic
             (Shape → Gather → Unsqueeze → Concat → Expand), LayerNorm written out
             (ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add), fused QKV MatMul split by Reshape/Transpose/
             Gather, scores scaled by Div after the MatMul, erf GELU as x·(1/√2), 4 heads.
  swin_op17  windowed attention at opset 17: LayerNormalization, tokens regrouped into 4
             windows of 16 by Reshape/Transpose, a relative-position bias and a shifted-window
             mask added to the scores before Softmax, scale folded into Q, 2 heads.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cnn_zoo import G, rng  # noqa: E402


def layer_norm(g, x, c, opset):
    if opset >= 17:
        return g.op("LayerNormalization", [x, g.w([c], 0.3), g.w([c], 0.1)], axis=-1, epsilon=1e-6)
    m = g.op("ReduceMean", [x], axes=[-1], keepdims=1)
    d = g.op("Sub", [x, m])
    v = g.op("ReduceMean", [g.op("Pow", [d, g.c(2.0)])], axes=[-1], keepdims=1)
    n = g.op("Div", [d, g.op("Sqrt", [g.op("Add", [v, g.c(1e-6)])])])
    return g.op("Add", [g.op("Mul", [n, g.w([c], 0.3)]), g.w([c], 0.1)])


def linear(g, x, cin, cout):
    return g.op("Add", [g.op("MatMul", [x, g.w([cin, cout])]), g.w([cout], 0.1)])


def gelu(g, x):
    e = g.op("Erf", [g.op("Mul", [x, g.c(0.70710677)])])
    return g.op("Mul", [g.op("Mul", [x, g.c(0.5)]), g.op("Add", [e, g.c(1.0)])])


def mlp(g, x, c):
    return linear(g, gelu(g, linear(g, x, c, 2 * c)), 2 * c, c)


def finish(g, y, opset):
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])
    out = helper.make_tensor_value_info(y, TensorProto.FLOAT, ["N", 10])
    graph = helper.make_graph(g.nodes, g.name, [inp], [out], g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="bqmlc-transformer-zoo")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def vit_op13():
    g, opset, c, heads = G("vit"), 13, 32, 4
    d = c // heads
    p = g.conv("x", 3, c, 8, 8, pads=[0, 0, 0, 0])  # [N, c, 4, 4]
    t = g.op("Transpose", [g.op("Reshape", [p, g.c([0, c, -1], np.int64)])], perm=[0, 2, 1])  # [N, 16, c]
    n = g.op("Gather", [g.op("Shape", ["x"]), g.c(0, np.int64)], axis=0)
    shape = g.op("Concat", [g.op("Unsqueeze", [n, g.c([0], np.int64)]), g.c([1, c], np.int64)], axis=0)
    cls = g.op("Expand", [g.w([1, 1, c], 0.5), shape])
    x = g.op("Concat", [cls, t], axis=1)  # [N, 17, c]
    for _ in range(2):
        h = layer_norm(g, x, c, opset)
        qkv = linear(g, h, c, 3 * c)
        qkv = g.op("Reshape", [qkv, g.c([0, 0, 3, heads, d], np.int64)])
        qkv = g.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])  # [3, N, heads, 17, d]
        q, k, v = (g.op("Gather", [qkv, g.c(i, np.int64)], axis=0) for i in range(3))
        s = g.op("Div", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), g.c(d**0.5)])
        a = g.op("MatMul", [g.op("Softmax", [s], axis=-1), v])
        a = g.op("Reshape", [g.op("Transpose", [a], perm=[0, 2, 1, 3]), g.c([0, 0, c], np.int64)])
        x = g.op("Add", [x, linear(g, a, c, c)])
        x = g.op("Add", [x, mlp(g, layer_norm(g, x, c, opset), c)])
    x = layer_norm(g, x, c, opset)
    cls = g.op("Gather", [x, g.c(0, np.int64)], axis=1)
    return finish(g, linear(g, cls, c, 10), opset)


def swin_op17():
    g, opset, c, heads, win = G("swin"), 17, 32, 2, 16
    d = c // heads
    p = g.conv("x", 3, c, 4, 4, pads=[0, 0, 0, 0])  # [N, c, 8, 8]
    x = g.op("Transpose", [g.op("Reshape", [p, g.c([0, c, -1], np.int64)])], perm=[0, 2, 1])  # [N, 64, c]
    for shifted in (False, True):
        h = layer_norm(g, x, c, opset)
        # [N, 8, 8, c] → 4 windows of 4×4: [N·4, 16, c].
        w = g.op("Reshape", [h, g.c([-1, 2, 4, 2, 4, c], np.int64)])
        w = g.op("Reshape", [g.op("Transpose", [w], perm=[0, 1, 3, 2, 4, 5]), g.c([-1, win, c], np.int64)])
        qkv = g.op("Reshape", [linear(g, w, c, 3 * c), g.c([-1, win, 3, heads, d], np.int64)])
        qkv = g.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])  # [3, N·4, heads, 16, d]
        q, k, v = (g.op("Gather", [qkv, g.c(i, np.int64)], axis=0) for i in range(3))
        q = g.op("Mul", [q, g.c(d**-0.5)])
        s = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])  # [N·4, heads, 16, 16]
        s = g.op("Add", [s, g.w([heads, win, win], 0.5)])  # relative-position bias
        if shifted:
            # A shifted-window mask [4 windows, 1, 16, 16], broadcast over the batch.
            mask = np.where(rng.random((4, 1, win, win)) < 0.3, -100.0, 0.0).astype(np.float32)
            mask[..., np.arange(win), np.arange(win)] = 0.0
            s = g.op("Reshape", [s, g.c([-1, 4, heads, win, win], np.int64)])
            s = g.op("Add", [s, g.c(mask)])
            s = g.op("Reshape", [s, g.c([-1, heads, win, win], np.int64)])
        a = g.op("MatMul", [g.op("Softmax", [s], axis=-1), v])
        a = g.op("Reshape", [g.op("Transpose", [a], perm=[0, 2, 1, 3]), g.c([-1, win, c], np.int64)])
        a = g.op("Reshape", [a, g.c([-1, 2, 2, 4, 4, c], np.int64)])
        a = g.op("Reshape", [g.op("Transpose", [a], perm=[0, 1, 3, 2, 4, 5]), g.c([-1, 64, c], np.int64)])
        x = g.op("Add", [x, linear(g, a, c, c)])
        x = g.op("Add", [x, mlp(g, layer_norm(g, x, c, opset), c)])
    x = g.op("ReduceMean", [layer_norm(g, x, c, opset)], axes=[1], keepdims=0)
    return finish(g, linear(g, x, c, 10), opset)


ZOO = [("vit_op13", vit_op13), ("swin_op17", swin_op17)]


def main():
    import onnxruntime as ort

    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, f in ZOO:
        m = f()
        onnx.save(m, f"{out}/{name}.onnx")
        x = rng.random((2, 3, 32, 32), dtype=np.float32)
        sess = ort.InferenceSession(f"{out}/{name}.onnx", providers=["CPUExecutionProvider"])
        y = sess.run(None, {"x": x})[0]
        np.save(f"{out}/{name}.input.npy", x)
        np.save(f"{out}/{name}.output.npy", y)
        print(name, y.shape)


if __name__ == "__main__":
    main()
