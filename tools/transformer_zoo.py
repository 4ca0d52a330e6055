#!/usr/bin/env python3
"""Small transformers in the shapes of the exporters' output, for testing the compiler on
graphs it was not written against: built with onnx.helper (random weights, the graph builder
of cnn_zoo.py), checked by onnx.checker, run on ONNX Runtime for the expected output.

    transformer_zoo.py OUTDIR          ->  OUTDIR/<name>.onnx, <name>.input.npy, <name>.output.npy
    transformer_zoo.py --bench OUTDIR  ->  the same for full-size stand-ins (batch-1 input):
        vit_s16_op13 (ViT-S/16 / DeiT-small at 224, opset 13) and swin_t_op17 (Swin-T at 224,
        opset 17: four stages, patch merging, rolled shifted windows).

Test models (NCHW input [N, 3, 32, 32] with a symbolic batch, logits [N, 10]):
  vit_op13   ViT at opset 13: patch Conv, class token through the exporter's shape arithmetic
             (Shape → Gather → Unsqueeze → Concat → Expand), LayerNorm written out
             (ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add), fused QKV MatMul split by Reshape/Transpose/
             Gather, scores scaled by Div after the MatMul, erf GELU as x·(1/√2), 4 heads.
  swin_op17  windowed attention at opset 17: LayerNormalization, tokens regrouped into 4
             windows of 16 by Reshape/Transpose (rolled by Slice/Concat in the shifted block),
             a relative-position bias and a shifted-window mask (built in the graph as
             torchvision's export does: ConstantOfShape, ScatterND per region, Where) added
             to the scores before Softmax (through a [N, windows, heads, S, S] view),
             scale folded into Q, tanh GELU as PyTorch exports it (Pow, Tanh), 2 heads.
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


def gelu_tanh(g, x):
    """PyTorch's export of gelu(approximate='tanh') before opset 20."""
    cube = g.op("Pow", [x, g.c(3.0)])
    inner = g.op("Mul", [g.c(np.sqrt(2 / np.pi)), g.op("Add", [x, g.op("Mul", [g.c(0.044715), cube])])])
    return g.op("Mul", [g.c(0.5), g.op("Mul", [x, g.op("Add", [g.c(1.0), g.op("Tanh", [inner])])])])


def mlp(g, x, c, act=gelu, ratio=2):
    return linear(g, act(g, linear(g, x, c, ratio * c)), ratio * c, c)


def finish(g, y, opset, img, classes):
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, img, img])
    out = helper.make_tensor_value_info(y, TensorProto.FLOAT, ["N", classes])
    graph = helper.make_graph(g.nodes, g.name, [inp], [out], g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="bqmlc-transformer-zoo")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def vit(name, opset, img, patch, c, heads, depth, classes, act=gelu, ratio=2):
    """ViT: patch Conv, class token through the exporter's shape arithmetic, `depth` blocks of
    pre-norm attention (fused QKV split by Reshape/Transpose/Gather, scores Div-scaled after
    the MatMul) and MLP."""
    g, d, grid = G(name), c // heads, img // patch
    p = g.conv("x", 3, c, patch, patch, pads=[0, 0, 0, 0])  # [N, c, grid, grid]
    t = g.op("Transpose", [g.op("Reshape", [p, g.c([0, c, -1], np.int64)])], perm=[0, 2, 1])
    n = g.op("Gather", [g.op("Shape", ["x"]), g.c(0, np.int64)], axis=0)
    shape = g.op("Concat", [g.op("Unsqueeze", [n, g.c([0], np.int64)]), g.c([1, c], np.int64)], axis=0)
    cls = g.op("Expand", [g.w([1, 1, c], 0.5), shape])
    x = g.op("Concat", [cls, t], axis=1)  # [N, 1 + grid², c]
    x = g.op("Add", [x, g.w([1, 1 + grid * grid, c], 0.1)])  # position embedding
    for _ in range(depth):
        h = layer_norm(g, x, c, opset)
        qkv = linear(g, h, c, 3 * c)
        qkv = g.op("Reshape", [qkv, g.c([0, 0, 3, heads, d], np.int64)])
        qkv = g.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])  # [3, N, heads, T, d]
        q, k, v = (g.op("Gather", [qkv, g.c(i, np.int64)], axis=0) for i in range(3))
        s = g.op("Div", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), g.c(d**0.5)])
        a = g.op("MatMul", [g.op("Softmax", [s], axis=-1), v])
        a = g.op("Reshape", [g.op("Transpose", [a], perm=[0, 2, 1, 3]), g.c([0, 0, c], np.int64)])
        x = g.op("Add", [x, linear(g, a, c, c)])
        x = g.op("Add", [x, mlp(g, layer_norm(g, x, c, opset), c, act, ratio)])
    x = layer_norm(g, x, c, opset)
    cls = g.op("Gather", [x, g.c(0, np.int64)], axis=1)
    return finish(g, linear(g, cls, c, classes), opset, img, classes)


def roll(g, x, shift, size):
    """torch.roll(x, -shift) over axes 1 and 2 of [N, size, size, C], as exporters write it:
    Slice + Concat per axis."""
    for axis in (1, 2):
        head = g.op("Slice", [x, g.c([0], np.int64), g.c([shift], np.int64), g.c([axis], np.int64)])
        tail = g.op("Slice", [x, g.c([shift], np.int64), g.c([size], np.int64), g.c([axis], np.int64)])
        x = g.op("Concat", [tail, head], axis=axis)
    return x


def shifted_window_mask(g, size, win, shift):
    """Swin's mask [windows, 1, S, S]: -100 between tokens of one window that came from
    different regions, computed in the graph as torchvision's export does (zeros, a slice
    assignment per region as ScatterND, window partition, pairwise Sub, Equal/Where)."""
    img = g.op("ConstantOfShape", [g.c([size, size], np.int64)],
               value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0]))
    cuts = ((0, size - win), (size - win, size - shift), (size - shift, size))
    for i, ((h0, h1), (w0, w1)) in enumerate((h, w) for h in cuts for w in cuts):
        idx = np.stack(np.meshgrid(np.arange(h0, h1), np.arange(w0, w1), indexing="ij"), axis=-1)
        img = g.op("ScatterND", [img, g.c(idx, np.int64), g.c(np.full(idx.shape[:2], float(i)))])
    m = g.op("Reshape", [img, g.c([size // win, win, size // win, win], np.int64)])
    m = g.op("Reshape", [g.op("Transpose", [m], perm=[0, 2, 1, 3]), g.c([-1, win * win], np.int64)])
    d = g.op("Sub", [g.op("Unsqueeze", [m, g.c([1], np.int64)]), g.op("Unsqueeze", [m, g.c([2], np.int64)])])
    mask = g.op("Where", [g.op("Equal", [d, g.c(0.0)]), g.c(0.0), g.c(-100.0)])
    return g.op("Unsqueeze", [mask, g.c([1], np.int64)])


def swin_block(g, x, c, heads, size, win, shifted, opset, act, ratio):
    """One Swin block on tokens [N, size², c]: windowed attention with a relative-position bias
    (and, when shifted, a roll and the shifted-window mask added through a per-window view)."""
    d, nw, s_len = c // heads, (size // win) ** 2, win * win
    h = layer_norm(g, x, c, opset)
    h = g.op("Reshape", [h, g.c([-1, size, size, c], np.int64)])
    shift = win // 2
    if shifted:
        h = roll(g, h, shift, size)
    w = g.op("Reshape", [h, g.c([-1, size // win, win, size // win, win, c], np.int64)])
    w = g.op("Reshape", [g.op("Transpose", [w], perm=[0, 1, 3, 2, 4, 5]), g.c([-1, s_len, c], np.int64)])
    qkv = g.op("Reshape", [linear(g, w, c, 3 * c), g.c([-1, s_len, 3, heads, d], np.int64)])
    qkv = g.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])  # [3, N·windows, heads, S, d]
    q, k, v = (g.op("Gather", [qkv, g.c(i, np.int64)], axis=0) for i in range(3))
    q = g.op("Mul", [q, g.c(d**-0.5)])
    s = g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])])  # [N·windows, heads, S, S]
    s = g.op("Add", [s, g.w([heads, s_len, s_len], 0.5)])  # relative-position bias
    if shifted:
        mask = shifted_window_mask(g, size, win, shift)  # [windows, 1, S, S]
        s = g.op("Reshape", [s, g.c([-1, nw, heads, s_len, s_len], np.int64)])
        s = g.op("Add", [s, mask])
        s = g.op("Reshape", [s, g.c([-1, heads, s_len, s_len], np.int64)])
    a = g.op("MatMul", [g.op("Softmax", [s], axis=-1), v])
    a = g.op("Reshape", [g.op("Transpose", [a], perm=[0, 2, 1, 3]), g.c([-1, s_len, c], np.int64)])
    a = linear(g, a, c, c)
    a = g.op("Reshape", [a, g.c([-1, size // win, size // win, win, win, c], np.int64)])
    a = g.op("Reshape", [g.op("Transpose", [a], perm=[0, 1, 3, 2, 4, 5]), g.c([-1, size, size, c], np.int64)])
    if shifted:
        a = roll(g, a, size - shift, size)
    x = g.op("Add", [x, g.op("Reshape", [a, g.c([-1, size * size, c], np.int64)])])
    return g.op("Add", [x, mlp(g, layer_norm(g, x, c, opset), c, act, ratio)])


def swin(name, opset, img, patch, c, heads, depths, win, classes, act=gelu, ratio=2):
    """Swin: patch Conv + norm, stages of (shifted-)window blocks joined by patch merging
    (2×2 neighbours to channels by Reshape/Transpose, LayerNorm, Linear without bias)."""
    g, size = G(name), img // patch
    p = g.conv("x", 3, c, patch, patch, pads=[0, 0, 0, 0])
    x = g.op("Transpose", [g.op("Reshape", [p, g.c([0, c, -1], np.int64)])], perm=[0, 2, 1])
    x = layer_norm(g, x, c, opset)
    for stage, (nh, depth) in enumerate(zip(heads, depths)):
        if stage > 0:
            m = g.op("Reshape", [x, g.c([-1, size // 2, 2, size // 2, 2, c], np.int64)])
            m = g.op("Transpose", [m], perm=[0, 1, 3, 4, 2, 5])
            m = g.op("Reshape", [m, g.c([-1, (size // 2) ** 2, 4 * c], np.int64)])
            x = g.op("MatMul", [layer_norm(g, m, 4 * c, opset), g.w([4 * c, 2 * c])])
            size, c = size // 2, 2 * c
        for i in range(depth):
            x = swin_block(g, x, c, nh, size, win, i % 2 == 1 and size > win, opset, act, ratio)
    x = g.op("ReduceMean", [layer_norm(g, x, c, opset)], axes=[1], keepdims=0)
    return finish(g, linear(g, x, c, classes), opset, img, classes)


def vit_op13():
    """ViT at opset 13: LayerNorm written out, erf GELU as x·(1/√2), 4 heads."""
    return vit("vit", 13, 32, 8, 32, 4, 2, 10)


def swin_op17():
    """Swin at opset 17, one stage of a plain and a shifted block, tanh GELU."""
    return swin("swin", 17, 32, 4, 32, [2], [2], 4, 10, gelu_tanh)


def vit_s16_op13():
    """ViT-S/16 (DeiT-small) at 224×224, opset 13: 12 layers, 6 heads, width 384, MLP ×4."""
    return vit("vit_s16", 13, 224, 16, 384, 6, 12, 1000, ratio=4)


def swin_t_op17():
    """Swin-T at 224×224, opset 17: width 96, depths 2-2-6-2, heads 3-6-12-24, window 7, MLP ×4."""
    return swin("swin_t", 17, 224, 4, 96, [3, 6, 12, 24], [2, 2, 6, 2], 7, 1000, ratio=4)


ZOO = [("vit_op13", vit_op13), ("swin_op17", swin_op17)]
# Full-size stand-ins for benchmarking against ONNX Runtime (`--bench`).
BENCH = [("vit_s16_op13", vit_s16_op13), ("swin_t_op17", swin_t_op17)]


def main():
    import onnxruntime as ort

    bench = sys.argv[1] == "--bench"
    out = sys.argv[-1]
    os.makedirs(out, exist_ok=True)
    for name, f in BENCH if bench else ZOO:
        m = f()
        onnx.save(m, f"{out}/{name}.onnx")
        img = m.graph.input[0].type.tensor_type.shape.dim[3].dim_value
        x = rng.random((1 if bench else 2, 3, img, img), dtype=np.float32)
        sess = ort.InferenceSession(f"{out}/{name}.onnx", providers=["CPUExecutionProvider"])
        y = sess.run(None, {"x": x})[0]
        np.save(f"{out}/{name}.input.npy", x)
        np.save(f"{out}/{name}.output.npy", y)
        print(name, y.shape)


if __name__ == "__main__":
    main()
