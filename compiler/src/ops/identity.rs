//! Identity, and Dropout in inference mode (which is the identity on its first output).

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, input};
use runtime::Tensor;

/// Passes its input through unchanged.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The ONNX op type, `Identity` or `Dropout`.
    pub source: &'static str,
}

pub fn parse(_ctx: &mut ParseCtx) -> Result<Identity, String> {
    Ok(Identity { source: "Identity" })
}

/// Dropout is the identity at inference; training mode and the mask output are refused.
pub fn parse_dropout(ctx: &mut ParseCtx) -> Result<Identity, String> {
    if ctx.node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err("Dropout's mask output is not supported (inference only)".into());
    }
    if ctx.has_input(2) {
        return Err("Dropout with a training_mode input is not supported (inference only)".into());
    }
    if ctx.int_or("is_test", 1)? == 0 && ctx.opset < 7 {
        return Err("Dropout with is_test=0 (training) is not supported".into());
    }
    Ok(Identity { source: "Dropout" })
}

impl OpDef for Identity {
    fn op_type(&self) -> &str {
        self.source
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        Ok(vec![OutFact {
            dtype: x.dtype,
            shape: x.shape.to_vec(),
            value: x.value.cloned(),
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        Ok(vec![input(inputs, 0)?.clone()])
    }
}
