//! Optimisation passes: a literal, named list run to a fixpoint. After every pass that
//! changed the graph, [`verify`] re-infers every node and checks that the recorded dtypes
//! and shapes still hold, so a bad rewrite is caught at the pass that made it.

use crate::error::{Diagnostic, Error, Result};
use crate::ir::Graph;
use crate::ops::Fact;

mod attention;
mod channel_scale;
mod const_add;
mod fold;
mod fuse;
mod gelu;
mod graph_util;
mod layer_norm;
mod linear;
mod mobile_block;
mod simplify;

pub use graph_util::{consumers, replace_uses};

/// One named graph rewrite; returns whether it changed anything.
pub struct Pass {
    pub name: &'static str,
    pub run: fn(&mut Graph) -> Result<bool, String>,
}

/// The pipeline, in order. Run to a fixpoint by [`optimize`].
pub const PIPELINE: &[Pass] = &[
    Pass {
        name: "fold-constants",
        run: fold::fold_constants,
    },
    Pass {
        name: "remove-identity",
        run: simplify::remove_identity,
    },
    Pass {
        name: "absorb-input-transpose",
        run: simplify::absorb_input_transpose,
    },
    Pass {
        name: "fold-batchnorm",
        run: fuse::fold_batchnorm,
    },
    Pass {
        name: "fold-conv-affine",
        run: fuse::fold_conv_affine,
    },
    Pass {
        name: "fuse-layernorm",
        run: layer_norm::fuse_layer_norm,
    },
    Pass {
        name: "fuse-gelu",
        run: gelu::fuse_gelu,
    },
    Pass {
        name: "fuse-conv-epilogue",
        run: fuse::fuse_conv_epilogue,
    },
    Pass {
        name: "fuse-linear",
        run: linear::fuse_linear,
    },
    Pass {
        name: "merge-linear",
        run: linear::merge_linear,
    },
    Pass {
        name: "fold-add-through-reshape",
        run: const_add::fold_add_through_reshape,
    },
    Pass {
        name: "merge-constant-adds",
        run: const_add::merge_constant_adds,
    },
    Pass {
        name: "fuse-attention",
        run: attention::fuse_attention,
    },
    Pass {
        name: "fold-channel-scale",
        run: channel_scale::fold_channel_scale,
    },
    Pass {
        name: "fuse-mobile-block",
        run: mobile_block::fuse_mobile_block,
    },
    Pass {
        name: "softmax-argmax",
        run: simplify::softmax_argmax,
    },
    Pass {
        name: "dead-nodes",
        run: simplify::dead_nodes,
    },
];

/// Bound on rewrites, so a pair of passes that undo each other cannot loop forever.
const MAX_REWRITES: usize = 100_000;

/// Runs [`PIPELINE`] to a fixpoint: each pass is applied while it changes the graph, and the
/// whole list is repeated until a full round changes nothing. Returns how often each fired.
pub fn optimize(graph: &mut Graph) -> Result<Vec<(&'static str, usize)>> {
    let mut fired: Vec<(&'static str, usize)> = PIPELINE.iter().map(|p| (p.name, 0)).collect();
    let mut total = 0;
    loop {
        let mut changed = false;
        for (i, pass) in PIPELINE.iter().enumerate() {
            while (pass.run)(graph).map_err(|m| {
                Error::Invalid(vec![Diagnostic {
                    location: format!("pass {}", pass.name),
                    message: m,
                }])
            })? {
                fired[i].1 += 1;
                total += 1;
                changed = true;
                verify(graph).map_err(|mut d| {
                    for x in &mut d {
                        x.message = format!("after pass {}: {}", pass.name, x.message);
                    }
                    Error::Invalid(d)
                })?;
                if total >= MAX_REWRITES {
                    return Err(Error::Invalid(vec![Diagnostic {
                        location: format!("pass {}", pass.name),
                        message: format!("no fixpoint after {MAX_REWRITES} rewrites"),
                    }]));
                }
            }
        }
        if !changed {
            return Ok(fired);
        }
    }
}

/// Checks the graph's invariants: topological order, every input defined, and every node's
/// re-inferred outputs equal to the recorded dtypes and shapes. Reports all problems.
pub fn verify(graph: &Graph) -> Result<(), Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut defined: Vec<bool> = vec![false; graph.values.len()];
    for &i in graph.inputs.iter().chain(graph.consts.keys()) {
        defined[i] = true;
    }
    for node in &graph.nodes {
        let loc = || format!("node '{}' ({})", node.name, node.op.op_type());
        let mut ok = true;
        for &i in node.inputs.iter().flatten() {
            if !defined.get(i).copied().unwrap_or(false) {
                diags.push(Diagnostic {
                    location: loc(),
                    message: format!("reads '{}' before it is defined", graph.values[i].name),
                });
                ok = false;
            }
        }
        if ok {
            let facts: Vec<Option<Fact>> = node
                .inputs
                .iter()
                .map(|i| {
                    i.map(|id| Fact {
                        dtype: graph.values[id].dtype,
                        shape: &graph.values[id].shape,
                        value: graph.consts.get(&id).map(|t| t.as_ref()),
                    })
                })
                .collect();
            match node.op.def().infer(&facts) {
                Err(m) => diags.push(Diagnostic {
                    location: loc(),
                    message: m,
                }),
                Ok(outs) => {
                    for (o, &id) in outs.iter().zip(&node.outputs) {
                        let v = &graph.values[id];
                        if o.dtype != v.dtype || o.shape != v.shape {
                            diags.push(Diagnostic {
                                location: loc(),
                                message: format!(
                                    "output '{}' recorded as {} {:?} but infers as {} {:?}",
                                    v.name, v.dtype, v.shape, o.dtype, o.shape
                                ),
                            });
                        }
                    }
                }
            }
        }
        for &o in &node.outputs {
            defined[o] = true;
        }
    }
    for &o in &graph.outputs {
        if !defined[o] {
            diags.push(Diagnostic {
                location: format!("output '{}'", graph.values[o].name),
                message: "is never computed".into(),
            });
        }
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(diags)
    }
}
