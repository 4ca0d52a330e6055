//! Errors from loading, checking and compiling a model. Every variant names what failed and where.

use std::fmt;

/// One node that bqmlc cannot run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedNode {
    pub node: String,
    pub op_type: String,
    pub domain: String,
    pub opset: i64,
    /// Why, when the op itself is known but this use of it is not supported (empty when
    /// the op is unknown).
    pub reason: String,
}

/// A problem found while checking the graph, attached to a node or value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// `node 'conv1' (Conv)` or `initializer 'w'` or `input 'x'`.
    pub location: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Everything that can go wrong between ONNX bytes and a runnable model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("malformed ONNX model: {0}")]
    Decode(String),
    #[error("{}", fmt_unsupported(.0))]
    Unsupported(Vec<UnsupportedNode>),
    #[error("{}", fmt_invalid(.0))]
    Invalid(Vec<Diagnostic>),
    /// The options ask for something this compiler or CPU cannot do.
    #[error("{0}")]
    Options(String),
    #[error("input '{name}': {message}")]
    Input { name: String, message: String },
    #[error("node '{node}' ({op_type}): {message}")]
    Node {
        node: String,
        op_type: String,
        message: String,
    },
}

fn fmt_unsupported(nodes: &[UnsupportedNode]) -> String {
    let mut s = format!("the model has {} unsupported node(s):", nodes.len());
    for n in nodes {
        let domain = if n.domain.is_empty() {
            "ai.onnx"
        } else {
            &n.domain
        };
        s.push_str(&format!(
            "\n  node '{}': op {} (domain {domain}, opset {})",
            n.node, n.op_type, n.opset
        ));
        if !n.reason.is_empty() {
            s.push_str(&format!(": {}", n.reason));
        }
    }
    s
}

fn fmt_invalid(diags: &[Diagnostic]) -> String {
    let mut s = format!("the model is invalid ({} problem(s)):", diags.len());
    for d in diags {
        s.push_str(&format!("\n  {d}"));
    }
    s
}

/// Result alias for the compiler.
pub type Result<T, E = Error> = std::result::Result<T, E>;
