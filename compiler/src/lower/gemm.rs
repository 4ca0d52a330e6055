//! Gemm (packed constant B with a fused bias, or the general run-time form) and MatMul
//! with batch broadcasting.

use kernels::generic as gk;
use runtime::DType;

use super::layout::{row_major, Loc, Lowerer};
use super::split::channel_slices;
use crate::ir::Node;
use crate::ops::{self};
use crate::plan::CallKind;

impl Lowerer<'_> {
    pub(super) fn lower_gemm(&mut self, node: &Node, gm: &ops::Gemm) -> Result<(), String> {
        let g = self.g;
        let (a, b, out) = (
            node.inputs[0].ok_or("no A")?,
            node.inputs[1].ok_or("no B")?,
            node.outputs[0],
        );
        let c = node.inputs.get(2).copied().flatten();
        let (as_, bs) = (self.shape(a).to_vec(), self.shape(b).to_vec());
        let (m, k) = if gm.trans_a {
            (as_[1], as_[0])
        } else {
            (as_[0], as_[1])
        };
        let n = if gm.trans_b { bs[0] } else { bs[1] };
        let c_const = c.map(|c| g.consts.get(&c));
        let c_ok = match c_const {
            None => Some(None),
            Some(Some(t)) if t.len() == n || t.len() == 1 => Some(Some(t.clone())),
            _ => None,
        };
        if let (Some(bt), Some(ct)) = (g.consts.get(&b), c_ok) {
            let packed = Box::new(
                kernels::pack_gemm_b(
                    k,
                    n,
                    bt.as_f32()?,
                    gm.trans_b,
                    gm.alpha,
                    ct.as_ref().map(|t| t.as_f32()).transpose()?,
                    gm.beta,
                )
                .map_err(|e| e.0)?,
            );
            let la = self.loc(a)?;
            let la = if gm.trans_a || la.strides[1] != 1 {
                let t = self.temp(&[m, k], 4, &format!("{} A", node.name));
                let src = if gm.trans_a {
                    la.view(la.offset, vec![la.strides[1], la.strides[0]])
                } else {
                    la
                };
                self.copy(&node.name, &src, &t, &[m, k])?;
                t
            } else {
                la
            };
            self.packed_gemm(
                &node.name,
                &la,
                m,
                k,
                n,
                packed,
                None,
                kernels::Act::None,
                out,
            )?;
            return Ok(());
        }
        // General form: alpha·op(A)·op(B) + beta·C with run-time operands.
        let la = self.loc(a)?;
        let lb = self.loc(b)?;
        let la = if gm.trans_a {
            la.view(la.offset, vec![la.strides[1], la.strides[0]])
        } else {
            la
        };
        let lb = if gm.trans_b {
            lb.view(lb.offset, vec![lb.strides[1], lb.strides[0]])
        } else {
            lb
        };
        let y = self.alloc(out, false);
        self.matmul(&node.name, 1, m, k, n, &la, 0, &lb, 0, &y, 0)?;
        if gm.alpha != 1.0 {
            let lt = self.scalar_loc(gm.alpha);
            self.binary(
                &node.name,
                gk::BINARY_MUL,
                &y.clone(),
                &[m, n],
                &lt,
                &[],
                &y,
                &[m, n],
                DType::F32,
            )?;
        }
        if let Some(c) = c {
            let lc = self.loc(c)?;
            let cs = self.shape(c).to_vec();
            let lc = if gm.beta != 1.0 {
                let lt = self.scalar_loc(gm.beta);
                let tmp = self.temp(&cs, 4, &format!("{} beta*C", node.name));
                self.binary(
                    &node.name,
                    gk::BINARY_MUL,
                    &lc,
                    &cs,
                    &lt,
                    &[],
                    &tmp,
                    &cs,
                    DType::F32,
                )?;
                tmp
            } else {
                lc
            };
            self.binary(
                &node.name,
                gk::BINARY_ADD,
                &y.clone(),
                &[m, n],
                &lc,
                &cs,
                &y,
                &[m, n],
                DType::F32,
            )?;
        }
        self.set(out, y);
        Ok(())
    }

    /// `act(A · packed + bias [+ residual])` for `m` rows of A (unit column stride) into `out`
    /// (allocated here, dense `[m, n]`): one packed GEMM call, rows split between threads.
    #[allow(clippy::too_many_arguments)]
    fn packed_gemm(
        &mut self,
        node: &str,
        la: &Loc,
        m: usize,
        k: usize,
        n: usize,
        packed: Box<kernels::PackedConv>,
        residual: Option<&Loc>,
        act: kernels::Act,
        out: crate::ir::ValueId,
    ) -> Result<(), String> {
        let y = self.alloc(out, false);
        let p = kernels::GemmParams {
            a: std::ptr::null(),
            lda: la.strides[la.strides.len() - 2] as usize,
            b_packed: std::ptr::null(),
            bias: std::ptr::null(),
            y: std::ptr::null_mut(),
            ldy: n,
            residual: std::ptr::null(),
            ldr: n,
            m,
            k,
            n,
            activation: act.to_c(),
            isa: self.isa.code(),
            channel_slices: channel_slices(packed.weights.len(), m * k, n),
        };
        let slices = p.channel_slices;
        let (wp, bp) = self.plan.keep_packed(packed);
        let desc = format!("gemm {m}x{k}x{n} [{}]", self.isa.name())
            + &match slices {
                1 => String::new(),
                n => format!(" oc/{n}"),
            }
            + if residual.is_some() { " +residual" } else { "" }
            + &match act {
                kernels::Act::None => String::new(),
                a => format!(" {a:?}"),
            };
        let mut ptrs = vec![
            (std::mem::offset_of!(kernels::GemmParams, a), la.ptr(0)),
            (std::mem::offset_of!(kernels::GemmParams, y), y.ptr(0)),
            (std::mem::offset_of!(kernels::GemmParams, b_packed), wp),
            (std::mem::offset_of!(kernels::GemmParams, bias), bp),
        ];
        if let Some(r) = residual {
            ptrs.push((
                std::mem::offset_of!(kernels::GemmParams, residual),
                r.ptr(0),
            ));
        }
        let call = crate::plan::KernelCall {
            symbol: "bqml_gemm",
            addr: kernels::bqml_gemm as *const () as usize,
            kind: CallKind::Rows { rows: m * slices },
            template: crate::plan::template_of(&p),
            ptrs,
            loads: Vec::new(),
            desc,
        };
        self.plan
            .push(node, crate::plan::StepKind::Call(call), (m * n * k) as u64);
        self.set(out, y);
        Ok(())
    }

    /// Linear: A's leading axes flattened into the GEMM's rows (A made row-major first).
    pub(super) fn lower_linear(&mut self, node: &Node, lin: &ops::Linear) -> Result<(), String> {
        let g = self.g;
        let (a, w, out) = (
            node.inputs[0].ok_or("no A")?,
            node.inputs[1].ok_or("no W")?,
            node.outputs[0],
        );
        let wt = g
            .consts
            .get(&w)
            .ok_or("Linear's weight must be a constant")?;
        let (k, n) = (wt.shape()[0], wt.shape()[1]);
        let bias = match node.inputs.get(2).copied().flatten() {
            None => None,
            Some(b) => Some(
                g.consts
                    .get(&b)
                    .ok_or("Linear's bias must be a constant")?
                    .clone(),
            ),
        };
        let m = self.shape(a).iter().product::<usize>() / k.max(1);
        let packed = Box::new(
            kernels::pack_gemm_b(
                k,
                n,
                wt.as_f32()?,
                false,
                1.0,
                bias.as_ref().map(|t| t.as_f32()).transpose()?,
                1.0,
            )
            .map_err(|e| e.0)?,
        );
        let la = self.row_major_loc(&node.name, a)?;
        let la = la.view(la.offset, vec![k as isize, 1]);
        let residual = match node.inputs.get(3).copied().flatten() {
            None => None,
            Some(r) => {
                let lr = self.row_major_loc(&node.name, r)?;
                Some(lr.view(lr.offset, vec![n as isize, 1]))
            }
        };
        let act = lin.activation.to_kernel();
        self.packed_gemm(
            &node.name,
            &la,
            m,
            k,
            n,
            packed,
            residual.as_ref(),
            act,
            out,
        )
    }

    /// `batch` matmuls of `[m,k]·[k,n]`; operand matrices must have unit column stride
    /// (copied to row-major otherwise).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn matmul(
        &mut self,
        node: &str,
        batch: usize,
        m: usize,
        k: usize,
        n: usize,
        la: &Loc,
        a_bs: isize,
        lb: &Loc,
        b_bs: isize,
        y: &Loc,
        y_bs: isize,
    ) -> Result<(), String> {
        let fix = |s: &mut Self,
                   l: &Loc,
                   rows: usize,
                   cols: usize,
                   bs: isize,
                   what: &str|
         -> Result<(Loc, isize), String> {
            let r = l.strides.len();
            if l.strides[r - 1] == 1 || cols == 1 {
                return Ok((l.clone(), bs));
            }
            let t = s.temp(&[batch, rows, cols], 4, &format!("{node} {what}"));
            let src = l.view(l.offset, vec![bs, l.strides[r - 2], l.strides[r - 1]]);
            s.copy(node, &src, &t, &[batch, rows, cols])?;
            Ok((
                t.view(0, vec![(rows * cols) as isize, cols as isize, 1]),
                (rows * cols) as isize,
            ))
        };
        let (la, a_bs) = fix(self, la, m, k, a_bs, "A")?;
        let (lb, b_bs) = fix(self, lb, k, n, b_bs, "B")?;
        let ra = la.strides.len();
        let rb = lb.strides.len();
        let lda = if ra >= 2 {
            la.strides[ra - 2]
        } else {
            k as isize
        };
        let ldb = if rb >= 2 {
            lb.strides[rb - 2]
        } else {
            n as isize
        };
        let p = gk::MatMulParams {
            batch,
            m,
            k,
            n,
            a: std::ptr::null(),
            a_batch_stride: a_bs,
            lda: lda.max(0) as usize,
            b: std::ptr::null(),
            b_batch_stride: b_bs,
            ldb: ldb.max(0) as usize,
            y: std::ptr::null_mut(),
            y_batch_stride: y_bs,
            ldy: n,
        };
        call!(
            self.plan,
            node,
            gk::bqml_matmul,
            p,
            CallKind::Once,
            (batch * m * n * k) as u64,
            format!("matmul {batch}x[{m}x{k}x{n}]"),
            [
                (gk::MatMulParams, a, la.ptr(0)),
                (gk::MatMulParams, b, lb.ptr(0)),
                (gk::MatMulParams, y, y.ptr(0))
            ]
        );
        Ok(())
    }

    pub(super) fn lower_matmul(&mut self, node: &Node) -> Result<(), String> {
        let (a, b, out) = (
            node.inputs[0].ok_or("no A")?,
            node.inputs[1].ok_or("no B")?,
            node.outputs[0],
        );
        let (sa, sb) = (self.shape(a).to_vec(), self.shape(b).to_vec());
        let la = self.row_major_loc(&node.name, a)?;
        let lb = self.row_major_loc(&node.name, b)?;
        // Promote 1-D operands: [k] → [1, k] and [k] → [k, 1].
        let (sa2, sb2) = (
            if sa.len() == 1 {
                vec![1, sa[0]]
            } else {
                sa.clone()
            },
            if sb.len() == 1 {
                vec![sb[0], 1]
            } else {
                sb.clone()
            },
        );
        let (m, k, n) = (sa2[sa2.len() - 2], sa2[sa2.len() - 1], sb2[sb2.len() - 1]);
        let ba = &sa2[..sa2.len() - 2];
        let bb = &sb2[..sb2.len() - 2];
        let bshape = ops::util::broadcast_shapes(&[ba, bb])?;
        let y = self.alloc(out, false);
        let la2 = la.view(la.offset, row_major(&sa2));
        let lb2 = lb.view(lb.offset, row_major(&sb2));
        let batches: usize = bshape.iter().product();
        let sta = Self::bstrides(&la.view(0, row_major(ba)), ba, &bshape);
        let stb = Self::bstrides(&lb.view(0, row_major(bb)), bb, &bshape);
        let (ma, mb) = ((m * k) as isize, (k * n) as isize);
        let mut idx = vec![0usize; bshape.len()];
        for bi in 0..batches.max(1) {
            let oa: isize = idx
                .iter()
                .zip(&sta)
                .map(|(&i, &s)| i as isize * s)
                .sum::<isize>()
                * ma;
            let ob: isize = idx
                .iter()
                .zip(&stb)
                .map(|(&i, &s)| i as isize * s)
                .sum::<isize>()
                * mb;
            let oy = (bi * m * n) as isize;
            let a_l = la2.view(
                la2.offset + oa,
                la2.strides[la2.strides.len() - 2..].to_vec(),
            );
            let b_l = lb2.view(
                lb2.offset + ob,
                lb2.strides[lb2.strides.len() - 2..].to_vec(),
            );
            let y_l = y.view(y.offset + oy, vec![n as isize, 1]);
            self.matmul(&node.name, 1, m, k, n, &a_l, 0, &b_l, 0, &y_l, 0)?;
            for d in (0..bshape.len()).rev() {
                idx[d] += 1;
                if idx[d] < bshape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        self.set(out, y);
        Ok(())
    }
}
