//! MobileBlock: the convolutions of an inverted residual (MobileNetV2/V3, EfficientNet,
//! MnasNet) as one node — an optional 1×1 expansion, a depthwise k×k convolution and an
//! optional 1×1 projection (at least two of the three), each a [`FusedConv`] with its
//! activation; only the projection may have a residual. Produced by the `fuse-mobile-block`
//! pass so that lowering can run the parts band by band and keep the expanded tensor in
//! cache. Inputs: `[X, We, Be, Wd, Bd, Wp, Bp, R]`, `None` where a part or operand is absent.

use runtime::Tensor;

use super::def::{Fact, OpDef, OutFact};
use super::fused_conv::FusedConv;
use super::util::{fact, input};

/// The parts of an inverted residual, in order (boxed: [`super::Op`] stays small).
#[derive(Clone, Debug)]
pub struct MobileBlock {
    pub expand: Option<Box<FusedConv>>,
    pub depthwise: Box<FusedConv>,
    pub project: Option<Box<FusedConv>>,
}

/// Input index of part `k`'s weights (0 expand, 1 depthwise, 2 projection); its bias
/// follows.
pub const fn weights_input(k: usize) -> usize {
    1 + 2 * k
}

/// Input index of the projection's residual.
pub const RESIDUAL_INPUT: usize = 7;

impl MobileBlock {
    /// `(part index, part)` for each present part, in execution order.
    pub fn parts(&self) -> impl Iterator<Item = (usize, &FusedConv)> {
        [
            self.expand.as_deref(),
            Some(&*self.depthwise),
            self.project.as_deref(),
        ]
        .into_iter()
        .enumerate()
        .filter_map(|(k, p)| p.map(|p| (k, p)))
    }
}

/// A part's own inputs `[X, W, B, R]` given its input `x`.
fn part_inputs<T: Copy>(k: usize, x: Option<T>, inputs: &[Option<T>]) -> Vec<Option<T>> {
    let at = |i: usize| inputs.get(i).copied().flatten();
    let w = weights_input(k);
    let mut v = vec![x, at(w), at(w + 1)];
    if k == 2 {
        v.push(at(RESIDUAL_INPUT));
    }
    v
}

impl OpDef for MobileBlock {
    fn op_type(&self) -> &str {
        "MobileBlock"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let (mut dtype, mut shape) = (x.dtype, x.shape.to_vec());
        let mut out = Vec::new();
        for (k, part) in self.parts() {
            let x = Fact {
                dtype,
                shape: &shape,
                value: None,
            };
            out = part.infer(&part_inputs(k, Some(x), inputs))?;
            (dtype, shape) = (out[0].dtype, out[0].shape.clone());
        }
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let mut x = input(inputs, 0)?.clone();
        for (k, part) in self.parts() {
            x = part.eval(&part_inputs(k, Some(&x), inputs))?.remove(0);
        }
        Ok(vec![x])
    }

    fn macs(&self, inputs: &[Option<&[usize]>], outputs: &[&[usize]]) -> u64 {
        let w = |k: usize| inputs.get(weights_input(k)).copied().flatten();
        // Each part's output has the block output's spatial size except the expansion's,
        // which has the input's; channel counts come from the weights.
        let (Some(x), Some(y)) = (inputs.first().copied().flatten(), outputs.first()) else {
            return 0;
        };
        let mut total = 0u64;
        for (k, part) in self.parts() {
            let Some(ws) = w(k) else { continue };
            let spatial: usize = if k == 0 { &x[2..] } else { &y[2..] }.iter().product();
            let out_shape = [x[0], ws[0], spatial];
            total += part.macs(&[None, Some(ws)], &[&out_shape]);
        }
        total
    }
}
