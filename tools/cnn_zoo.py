#!/usr/bin/env python3
"""Small CNNs in the shapes of torchvision's architectures, for testing the compiler on graphs
it was not written against: each is built with onnx.helper (random weights), checked by
onnx.checker, and run on ONNX Runtime to produce the expected output.

    cnn_zoo.py OUTDIR   ->  OUTDIR/<name>.onnx, <name>.input.npy, <name>.output.npy

Patterns covered: MobileNetV3 (depthwise, HardSwish, squeeze-excite with HardSigmoid and a
broadcast Mul), EfficientNet (SiLU as Sigmoid·Mul, SE, Pad-free asymmetric convs), ShuffleNet
(channel shuffle by Reshape/Transpose/Reshape, Split, Concat), SqueezeNet (fire modules, Concat,
MaxPool ceil_mode), RegNet/ResNeXt (grouped conv, BatchNormalization, residual), MnasNet
(ReLU6 as Clip, inverted residual) — at opsets 11, 13 and 17, with a symbolic batch dimension.
"""
import sys
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper

rng = np.random.default_rng(0)


class G:
    def __init__(self, name):
        self.name, self.nodes, self.inits, self.n = name, [], [], 0

    def w(self, shape, scale=None):
        self.n += 1
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        scale = scale if scale is not None else (2.0 / fan_in) ** 0.5
        name = f"w{self.n}"
        self.inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def c(self, values, dtype=np.float32):
        self.n += 1
        name = f"c{self.n}"
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def op(self, op_type, inputs, n_out=1, **attrs):
        self.n += 1
        outs = [f"t{self.n}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=f"{op_type}_{self.n}", **attrs))
        return outs[0] if n_out == 1 else outs

    def conv(self, x, cin, cout, k, s=1, g=1, pads=None, bias=True):
        p = pads if pads is not None else [k // 2] * 4
        ins = [x, self.w([cout, cin // g, k, k])] + ([self.w([cout], 0.1)] if bias else [])
        return self.op("Conv", ins, kernel_shape=[k, k], strides=[s, s], pads=p, group=g)

    def bn(self, x, c):
        var = numpy_helper.from_array((rng.random(c) + 0.5).astype(np.float32), f"var{self.n}")
        self.inits.append(var)
        return self.op("BatchNormalization", [x, self.w([c], 0.2), self.w([c], 0.1), self.w([c], 0.1), var.name], epsilon=1e-5)

    def clip6(self, x, opset):
        if opset < 11:
            return self.op("Clip", [x], min=0.0, max=6.0)
        return self.op("Clip", [x, self.c(0.0), self.c(6.0)])

    def se(self, x, c, gate):
        s = self.op("GlobalAveragePool", [x])
        s = self.op("Relu", [self.conv(s, c, max(c // 4, 4), 1)])
        s = self.conv(s, max(c // 4, 4), c, 1)
        s = self.op("HardSigmoid", [s], alpha=1 / 6, beta=0.5) if gate == "hard" else self.op("Sigmoid", [s])
        return self.op("Mul", [x, s])

    def head(self, x, c, classes=10):
        x = self.op("GlobalAveragePool", [x])
        x = self.op("Flatten", [x], axis=1)
        x = self.op("Gemm", [x, self.w([classes, c]), self.w([classes], 0.1)], transB=1)
        return self.op("Softmax", [x], axis=1)

    def model(self, x_name, y, hw, opset):
        inp = helper.make_tensor_value_info(x_name, TensorProto.FLOAT, ["N", 3, hw, hw])
        out = helper.make_tensor_value_info(y, TensorProto.FLOAT, ["N", 10])
        graph = helper.make_graph(self.nodes, self.name, [inp], [out], self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="bqmlc-cnn-zoo")
        m.ir_version = 8
        onnx.checker.check_model(m, full_check=True)
        return m


def mobilenet_v3(opset):
    g = G("mobilenet_v3")
    x = g.op("HardSwish", [g.conv("x", 3, 16, 3, 2)]) if opset >= 14 else g.op("Relu", [g.conv("x", 3, 16, 3, 2)])
    y = g.conv(x, 16, 32, 1)
    y = g.op("HardSigmoid", [y], alpha=1 / 6, beta=0.5)
    y = g.op("Mul", [g.conv(x, 16, 32, 1), y])  # HardSwish written out, as older exporters do
    y = g.conv(y, 32, 32, 3, 1, g=32)
    y = g.se(y, 32, "hard")
    y = g.conv(y, 32, 16, 1)
    x = g.op("Add", [x, y])
    return g.model("x", g.head(x, 16), 32, opset)


def efficientnet(opset):
    g = G("efficientnet")
    x = g.conv("x", 3, 16, 3, 2, pads=[0, 0, 1, 1])
    x = g.op("Mul", [x, g.op("Sigmoid", [x])])
    y = g.conv(x, 16, 64, 1)
    y = g.op("Mul", [y, g.op("Sigmoid", [y])])
    y = g.conv(y, 64, 64, 5, 2, g=64, pads=[1, 1, 2, 2])
    y = g.op("Mul", [y, g.op("Sigmoid", [y])])
    y = g.se(y, 64, "sigmoid")
    y = g.conv(y, 64, 24, 1)
    return g.model("x", g.head(y, 24), 32, opset)


def shufflenet(opset):
    g = G("shufflenet")
    x = g.op("Relu", [g.conv("x", 3, 24, 3, 2)])
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    if opset >= 13:
        a, b = g.op("Split", [x, g.c([12, 12], np.int64)], n_out=2, axis=1)
    else:
        a, b = g.op("Split", [x], n_out=2, axis=1, split=[12, 12])
    b = g.op("Relu", [g.conv(b, 12, 12, 1)])
    b = g.conv(b, 12, 12, 3, 1, g=12)
    b = g.op("Relu", [g.conv(b, 12, 12, 1)])
    x = g.op("Concat", [a, b], axis=1)
    x = g.op("Reshape", [x, g.c([-1, 2, 12, 8, 8], np.int64)])
    x = g.op("Transpose", [x], perm=[0, 2, 1, 3, 4])
    x = g.op("Reshape", [x, g.c([-1, 24, 8, 8], np.int64)])
    return g.model("x", g.head(x, 24), 32, opset)


def squeezenet(opset):
    g = G("squeezenet")
    x = g.op("Relu", [g.conv("x", 3, 32, 3, 2, pads=[0, 0, 0, 0])])
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    s = g.op("Relu", [g.conv(x, 32, 8, 1)])
    e1 = g.op("Relu", [g.conv(s, 8, 16, 1)])
    e3 = g.op("Relu", [g.conv(s, 8, 16, 3)])
    x = g.op("Concat", [e1, e3], axis=1)
    x = g.op("Dropout", [x])
    x = g.op("Relu", [g.conv(x, 32, 10, 1)])
    x = g.op("GlobalAveragePool", [x])
    x = g.op("Flatten", [x], axis=1)
    return g.model("x", g.op("Softmax", [x], axis=1), 33, opset)


def regnet(opset):
    g = G("regnet")
    x = g.op("Relu", [g.bn(g.conv("x", 3, 32, 3, 2, bias=False), 32)])
    y = g.op("Relu", [g.bn(g.conv(x, 32, 32, 1, bias=False), 32)])
    y = g.op("Relu", [g.bn(g.conv(y, 32, 32, 3, 2, g=4, bias=False), 32)])
    y = g.bn(g.conv(y, 32, 48, 1, bias=False), 48)
    sc = g.bn(g.conv(x, 32, 48, 1, 2, bias=False, pads=[0, 0, 0, 0]), 48)
    x = g.op("Relu", [g.op("Add", [y, sc])])
    return g.model("x", g.head(x, 48), 32, opset)


def mnasnet(opset):
    g = G("mnasnet")
    x = g.clip6(g.bn(g.conv("x", 3, 16, 3, 2, bias=False), 16), opset)
    y = g.clip6(g.bn(g.conv(x, 16, 48, 1, bias=False), 48), opset)
    y = g.clip6(g.bn(g.conv(y, 48, 48, 3, 1, g=48, bias=False), 48), opset)
    y = g.bn(g.conv(y, 48, 16, 1, bias=False), 16)
    x = g.op("Add", [x, y])
    x = g.op("ReduceMean", [x], axes=[2, 3], keepdims=0) if opset < 18 else None
    x = g.op("Gemm", [x, g.w([10, 16]), g.w([10], 0.1)], transB=1)
    return g.model("x", x, 32, opset)


ZOO = [(f, o) for f in (mobilenet_v3, efficientnet, shufflenet, squeezenet, regnet, mnasnet) for o in (11, 13, 17)]


def main():
    import onnxruntime as ort
    out = sys.argv[1]
    import os
    os.makedirs(out, exist_ok=True)
    for f, opset in ZOO:
        m = f(opset)
        name = f"{m.graph.name}_op{opset}"
        onnx.save(m, f"{out}/{name}.onnx")
        hw = m.graph.input[0].type.tensor_type.shape.dim[2].dim_value
        x = rng.random((2, 3, hw, hw), dtype=np.float32)
        sess = ort.InferenceSession(f"{out}/{name}.onnx", providers=["CPUExecutionProvider"])
        y = sess.run(None, {"x": x})[0]
        np.save(f"{out}/{name}.input.npy", x)
        np.save(f"{out}/{name}.output.npy", y)
        print(name, y.shape)


if __name__ == "__main__":
    main()
