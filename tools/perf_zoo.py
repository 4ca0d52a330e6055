#!/usr/bin/env python3
"""Full-size CNNs in the shapes of torchvision's SqueezeNet 1.1, ShuffleNetV2 x1.0,
RegNetX-400MF, MnasNet 1.0 and EfficientNet-B0, with random weights, for performance work on
families the visible models do not cover (issue #13's held-out set is of these families).
Wrapped like shared/models/zoo: NHWC input `input` [1, 224, 224, 3], logits output `logits`.

    perf_zoo.py OUTDIR   ->  OUTDIR/<name>.onnx  (about 80 MB in all)

then e.g. `bqmlc bench OUTDIR/mnasnet1_0.onnx --backend jit --compare-ort --runs 15`.
Not used by the tests (tools/cnn_zoo.py builds the small versions they run). Biases after
SqueezeNet's convs are separate Add nodes, as some exporters write them.
"""
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh

class G:
    def __init__(s, name):
        s.name=name; s.nodes=[]; s.inits=[]; s.n=0; s.rng=np.random.default_rng(7)
    def t(s, p): s.n+=1; return f"{p}_{s.n}"
    def const(s, arr, p="c"):
        n=s.t(p); s.inits.append(nh.from_array(np.asarray(arr), n)); return n
    def node(s, op, ins, nout=1, **kw):
        outs=[s.t(op) for _ in range(nout)]
        s.nodes.append(h.make_node(op, ins, outs, name=s.t("/"+op), **kw)); return outs if nout>1 else outs[0]
    def conv(s, x, cin, cout, k, stride=1, groups=1, act="Relu", bn=True):
        w=(s.rng.standard_normal((cout, cin//groups, k, k))*np.sqrt(2.0/(cin//groups*k*k))).astype(np.float32)
        y=s.node("Conv",[x,s.const(w,"w")],kernel_shape=[k,k],strides=[stride,stride],pads=[k//2]*4,group=groups)
        if bn:
            sc=s.rng.uniform(0.5,1.5,cout).astype(np.float32); b=s.rng.uniform(-0.2,0.2,cout).astype(np.float32)
            m=s.rng.uniform(-0.1,0.1,cout).astype(np.float32); v=s.rng.uniform(0.5,1.5,cout).astype(np.float32)
            y=s.node("BatchNormalization",[y,s.const(sc),s.const(b),s.const(m),s.const(v)])
        else:
            y=s.node("Add",[y,s.const(s.rng.uniform(-0.1,0.1,(1,cout,1,1)).astype(np.float32))])
        if act=="Relu": y=s.node("Relu",[y])
        elif act=="Sigmoid": y=s.node("Sigmoid",[y])
        return y
    def build(s, x_in, body, path):
        x=s.node("Transpose",["input"],perm=[0,3,1,2])
        y=body(s,x)
        y=s.node("GlobalAveragePool",[y]); y=s.node("Flatten",[y])
        cin=s.last
        w=(s.rng.standard_normal((1000,cin))*0.02).astype(np.float32)
        y=s.node("Gemm",[y,s.const(w),s.const(np.zeros(1000,np.float32))],transB=1)
        s.nodes[-1].output[0]="logits"
        g=h.make_graph(s.nodes,s.name,[h.make_tensor_value_info("input",T.FLOAT,[1,224,224,3])],
                       [h.make_tensor_value_info("logits",T.FLOAT,[1,1000])],s.inits)
        m=h.make_model(g,opset_imports=[h.make_opsetid("",17)]); m.ir_version=8
        onnx.checker.check_model(m); onnx.save(m,path)

def squeezenet(s,x):
    x=s.conv(x,3,64,3,2,bn=False); x=s.node("MaxPool",[x],kernel_shape=[3,3],strides=[2,2],ceil_mode=1)
    def fire(x,cin,sq,e):
        q=s.conv(x,cin,sq,1,bn=False); a=s.conv(q,sq,e,1,bn=False); b=s.conv(q,sq,e,3,bn=False)
        return s.node("Concat",[a,b],axis=1)
    x=fire(x,64,16,64); x=fire(x,128,16,64); x=s.node("MaxPool",[x],kernel_shape=[3,3],strides=[2,2],ceil_mode=1)
    x=fire(x,128,32,128); x=fire(x,256,32,128); x=s.node("MaxPool",[x],kernel_shape=[3,3],strides=[2,2],ceil_mode=1)
    x=fire(x,256,48,192); x=fire(x,384,48,192); x=fire(x,384,64,256); x=fire(x,512,64,256)
    x=s.conv(x,512,1000,1,bn=False); s.last=1000; return x

def shufflenet(s,x):
    def shuffle(x,c,hw):
        y=s.node("Reshape",[x,s.const(np.array([1,2,c//2,hw,hw],np.int64))])
        y=s.node("Transpose",[y],perm=[0,2,1,3,4])
        return s.node("Reshape",[y,s.const(np.array([1,c,hw,hw],np.int64))])
    x=s.conv(x,3,24,3,2); x=s.node("MaxPool",[x],kernel_shape=[3,3],strides=[2,2],pads=[1,1,1,1]); hw=56; cin=24
    for cout,reps in [(116,4),(232,8),(464,4)]:
        for i in range(reps):
            bf=cout//2
            if i==0:
                hw//=2
                b1=s.conv(x,cin,cin,3,2,groups=cin,act=None); b1=s.conv(b1,cin,bf,1)
                b2=s.conv(x,cin,bf,1); b2=s.conv(b2,bf,bf,3,2,groups=bf,act=None); b2=s.conv(b2,bf,bf,1)
            else:
                b1,x2=s.node("Split",[x,s.const(np.array([bf,bf],np.int64))],nout=2,axis=1)
                b2=s.conv(x2,bf,bf,1); b2=s.conv(b2,bf,bf,3,1,groups=bf,act=None); b2=s.conv(b2,bf,bf,1)
            x=s.node("Concat",[b1,b2],axis=1); x=shuffle(x,cout,hw); cin=cout
    x=s.conv(x,464,1024,1); s.last=1024; return x

def regnet_x_400mf(s,x):
    x=s.conv(x,3,32,3,2); cin=32
    for w,d in [(32,1),(64,2),(160,7),(400,12)]:
        gw=16
        for i in range(d):
            st=2 if i==0 else 1
            a=s.conv(x,cin,w,1); a=s.conv(a,w,w,3,st,groups=w//gw); a=s.conv(a,w,w,1,act=None)
            sc=x if (st==1 and cin==w) else s.conv(x,cin,w,1,st,act=None)
            x=s.node("Relu",[s.node("Add",[a,sc])]); cin=w
    s.last=400; return x

def mnasnet(s,x):
    x=s.conv(x,3,32,3,2); x=s.conv(x,32,32,3,1,groups=32); x=s.conv(x,32,16,1,act=None); cin=16
    for e,k,st,cout,reps in [(3,3,2,24,3),(3,5,2,40,3),(6,5,2,80,3),(6,3,1,96,2),(6,5,2,192,4),(6,3,1,320,1)]:
        for i in range(reps):
            s1=st if i==0 else 1
            y=s.conv(x,cin,cin*e,1); y=s.conv(y,cin*e,cin*e,k,s1,groups=cin*e); y=s.conv(y,cin*e,cout,1,act=None)
            if s1==1 and cin==cout: y=s.node("Add",[y,x])
            x=y; cin=cout
    x=s.conv(x,320,1280,1); s.last=1280; return x

def effb0(s,x):
    def se(x,c,sq):
        p=s.node("GlobalAveragePool",[x]); a=s.conv(p,c,sq,1,bn=False,act=None); a=s.node("Mul",[a,s.node("Sigmoid",[a])])
        b=s.conv(a,sq,c,1,bn=False,act="Sigmoid"); return s.node("Mul",[x,b])
    def swish(y): return s.node("Mul",[y,s.node("Sigmoid",[y])])
    x=swish(s.conv(x,3,32,3,2,act=None)); cin=32
    for e,k,st,cout,reps in [(1,3,1,16,1),(6,3,2,24,2),(6,5,2,40,2),(6,3,2,80,3),(6,5,1,112,3),(6,5,2,192,4),(6,3,1,320,1)]:
        for i in range(reps):
            s1=st if i==0 else 1; c=cin*e
            y=swish(s.conv(x,cin,c,1,act=None)) if e!=1 else x
            y=swish(s.conv(y,c,c,k,s1,groups=c,act=None)); y=se(y,c,max(1,cin//4)); y=s.conv(y,c,cout,1,act=None)
            if s1==1 and cin==cout: y=s.node("Add",[y,x])
            x=y; cin=cout
    x=swish(s.conv(x,320,1280,1,act=None)); s.last=1280; return x

out = sys.argv[1] if len(sys.argv) > 1 else "."
for name,f in [("squeezenet1_1",squeezenet),("shufflenet_v2",shufflenet),("regnet_x_400mf",regnet_x_400mf),("mnasnet1_0",mnasnet),("efficientnet_b0",effb0)]:
    g=G(name); g.build("input",f,f"{out}/{name}.onnx"); print(name, "ok")
