//! Cranelift code generation: one native function per model, specialised to its plan.
//! Every step becomes straight-line code with constant arena offsets and sizes: a kernel
//! call whose params struct is copied from its template into a stack slot and completed
//! with the step's pointers, or an inline `f32x4` loop for simple element-wise ops.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    types, AbiParam, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, Value,
};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};

use runtime::model::EntryFn;

use crate::plan::{CallKind, InlineOp, KernelCall, Plan, Ptr, StepKind};

/// Native code of one model. The module is never modified after finalisation; only the
/// entry pointer into its code is used.
struct JitCode(#[allow(dead_code)] JITModule);

// SAFETY: after `finalize_definitions` the module's memory is immutable executable code,
// which any thread may call; nothing mutates or frees it while the model lives.
unsafe impl Send for JitCode {}
// SAFETY: as above; shared references only read the finalised code.
unsafe impl Sync for JitCode {}

/// The host ISA with the features the generated code may use set explicitly.
pub fn host_isa() -> Result<OwnedTargetIsa, String> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v).map_err(|e| format!("cranelift flag {k}: {e}"))
    };
    set(&mut flags, "opt_level", "speed")?;
    // The verifier runs on every compiled function (debug and release alike).
    set(&mut flags, "enable_verifier", "true")?;
    set(&mut flags, "is_pic", "false")?;
    let mut isa = cranelift_native::builder().map_err(|e| format!("host ISA: {e}"))?;
    #[cfg(target_arch = "x86_64")]
    {
        for (feat, on) in [
            ("has_avx", is_x86_feature_detected!("avx")),
            ("has_avx2", is_x86_feature_detected!("avx2")),
            ("has_fma", is_x86_feature_detected!("fma")),
        ] {
            if on {
                isa.enable(feat)
                    .map_err(|e| format!("cranelift {feat}: {e}"))?;
            }
        }
    }
    isa.finish(settings::Flags::new(flags))
        .map_err(|e| format!("host ISA: {e}"))
}

/// Per-function state: the builder and the entry's parameters.
struct Translator<'a> {
    b: FunctionBuilder<'a>,
    plan: &'a Plan,
    arena: Value,
    inputs: Value,
    outputs: Value,
    pool: Value,
    slot: cranelift_codegen::ir::StackSlot,
    call_conv: CallConv,
}

const PTR: types::Type = types::I64;

fn flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Translator<'_> {
    fn emit_ptr(&mut self, p: Ptr) -> Value {
        match p {
            Ptr::Buf(b, off) => {
                let off = self.plan.buf_offset(b, off) as i64;
                self.b.ins().iadd_imm_s(self.arena, off)
            }
            Ptr::Input(i, off) => {
                let base = self.b.ins().load(PTR, flags(), self.inputs, (8 * i) as i32);
                self.b.ins().iadd_imm_s(base, off as i64)
            }
            Ptr::Output(i, off) => {
                let base = self
                    .b
                    .ins()
                    .load(PTR, flags(), self.outputs, (8 * i) as i32);
                self.b.ins().iadd_imm_s(base, off as i64)
            }
            Ptr::Abs(a) => self.b.ins().iconst(PTR, a as i64),
        }
    }

    fn sig(&self, params: &[types::Type], ret: Option<types::Type>) -> Signature {
        let mut s = Signature::new(self.call_conv);
        s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        s.returns.extend(ret.map(AbiParam::new));
        s
    }

    /// Copies the params template into the stack slot, stores the pointer fields, calls.
    fn emit_call(&mut self, c: &KernelCall) {
        let template = c.template.as_ptr() as i64;
        let t = self.b.ins().iconst(PTR, template);
        for w in 0..c.template.len() {
            let v = self.b.ins().load(types::I64, flags(), t, (8 * w) as i32);
            self.b.ins().stack_store(PTR, v, self.slot, (8 * w) as i32);
        }
        for &(off, p) in &c.ptrs {
            let v = self.emit_ptr(p);
            self.b.ins().stack_store(PTR, v, self.slot, off as i32);
        }
        for &(off, p, bytes) in &c.loads {
            let addr = self.emit_ptr(p);
            let ty = if bytes == 8 { types::I64 } else { types::I32 };
            let v = self.b.ins().load(ty, flags(), addr, 0);
            self.b.ins().stack_store(PTR, v, self.slot, off as i32);
        }
        let params = self.b.ins().stack_addr(PTR, self.slot, 0);
        let callee = self.b.ins().iconst(PTR, c.addr as i64);
        match c.kind {
            CallKind::Once => {
                let sig = self.sig(&[PTR], None);
                let sr = self.b.import_signature(sig);
                self.b.ins().call_indirect(sr, callee, &[params]);
            }
            CallKind::Checked { code } => {
                let sig = self.sig(&[PTR], Some(types::I32));
                let sr = self.b.import_signature(sig);
                let call = self.b.ins().call_indirect(sr, callee, &[params]);
                let status = self.b.inst_results(call)[0];
                let fail = self.b.create_block();
                let cont = self.b.create_block();
                self.b.ins().brif(status, fail, &[], cont, &[]);
                self.b.switch_to_block(fail);
                self.b.seal_block(fail);
                let code = self.b.ins().iconst(types::I32, code as i64);
                self.b.ins().return_(&[code]);
                self.b.switch_to_block(cont);
                self.b.seal_block(cont);
            }
            CallKind::Rows { rows } => {
                let sig = self.sig(&[PTR, PTR, PTR, PTR], None);
                let sr = self.b.import_signature(sig);
                let run = self
                    .b
                    .ins()
                    .iconst(PTR, runtime::pool::bqml_run_rows as *const () as i64);
                let n = self.b.ins().iconst(PTR, rows as i64);
                self.b
                    .ins()
                    .call_indirect(sr, run, &[self.pool, callee, params, n]);
            }
        }
    }

    fn emit_mark(&mut self, i: usize) {
        let sig = self.sig(&[types::I32], None);
        let sr = self.b.import_signature(sig);
        let f = self
            .b
            .ins()
            .iconst(PTR, runtime::profile::bqml_prof_mark as *const () as i64);
        let v = self.b.ins().iconst(types::I32, i as i64);
        self.b.ins().call_indirect(sr, f, &[v]);
    }

    fn vec_op(&mut self, op: InlineOp, a: Value, b: Option<Value>, ty: types::Type) -> Value {
        let splat = |t: &mut Self, x: f32| {
            let s = t.b.ins().f32const(x);
            if ty == types::F32 {
                s
            } else {
                t.b.ins().splat(ty, s)
            }
        };
        match op {
            InlineOp::Relu => {
                let z = splat(self, 0.0);
                self.b.ins().fmax(a, z)
            }
            InlineOp::Clip { min, max } => {
                let lo = splat(self, min);
                let hi = splat(self, max);
                let t = self.b.ins().fmax(a, lo);
                self.b.ins().fmin(t, hi)
            }
            InlineOp::Add => self.b.ins().fadd(a, b.expect("binary")),
            InlineOp::Sub => self.b.ins().fsub(a, b.expect("binary")),
            InlineOp::Mul => self.b.ins().fmul(a, b.expect("binary")),
            InlineOp::Div => self.b.ins().fdiv(a, b.expect("binary")),
        }
    }

    /// `y[i] = op(a[i], b[i])` over `n` f32: an `f32x4` loop with a constant trip count,
    /// then the remaining 0–3 elements straight-line.
    fn emit_inline(&mut self, op: InlineOp, a: Ptr, b: Option<Ptr>, y: Ptr, n: usize) {
        let pa = self.emit_ptr(a);
        let pb = b.map(|b| self.emit_ptr(b));
        let py = self.emit_ptr(y);
        let vec_bytes = (n / 4 * 16) as i64;
        if vec_bytes > 0 {
            let header = self.b.create_block();
            let body = self.b.create_block();
            let exit = self.b.create_block();
            self.b.append_block_param(header, PTR);
            let zero = self.b.ins().iconst(PTR, 0);
            self.b.ins().jump(header, &[zero.into()]);
            self.b.switch_to_block(header);
            let i = self.b.block_params(header)[0];
            let done = self
                .b
                .ins()
                .icmp_imm_s(IntCC::SignedGreaterThanOrEqual, i, vec_bytes);
            self.b.ins().brif(done, exit, &[], body, &[]);
            self.b.switch_to_block(body);
            self.b.seal_block(body);
            let ea = self.b.ins().iadd(pa, i);
            let va = self.b.ins().load(types::F32X4, flags(), ea, 0);
            let vb = pb.map(|pb| {
                let eb = self.b.ins().iadd(pb, i);
                self.b.ins().load(types::F32X4, flags(), eb, 0)
            });
            let r = self.vec_op(op, va, vb, types::F32X4);
            let ey = self.b.ins().iadd(py, i);
            self.b.ins().store(flags(), r, ey, 0);
            let next = self.b.ins().iadd_imm_s(i, 16);
            self.b.ins().jump(header, &[next.into()]);
            self.b.seal_block(header);
            self.b.switch_to_block(exit);
            self.b.seal_block(exit);
        }
        for k in (n / 4 * 4)..n {
            let off = (4 * k) as i32;
            let va = self.b.ins().load(types::F32, flags(), pa, off);
            let vb = pb.map(|pb| self.b.ins().load(types::F32, flags(), pb, off));
            let r = self.vec_op(op, va, vb, types::F32);
            self.b.ins().store(flags(), r, py, off);
        }
    }
}

/// Generated code for a plan: the entry function and, for `--emit=clif`, its CLIF text.
pub struct Generated {
    pub entry: EntryFn,
    pub clif: String,
    pub code: Box<dyn std::any::Any + Send + Sync>,
}

/// Compiles the plan into one native function `(arena, inputs, outputs, pool) -> status`.
/// With `profile`, the function calls `runtime::profile::bqml_prof_mark(i)` before step `i`
/// and after the last step.
pub fn generate(plan: &Plan, profile: bool) -> Result<Generated, String> {
    let isa = host_isa()?;
    let call_conv = isa.default_call_conv();
    let frontend_config = isa.frontend_config();
    let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
    let mut ctx = module.make_context();
    let mut sig = Signature::new(call_conv);
    sig.params.extend([AbiParam::new(PTR); 4]);
    sig.returns.push(AbiParam::new(types::I32));
    ctx.func.signature = sig.clone();
    let slot_bytes = plan
        .steps
        .iter()
        .map(|s| match &s.kind {
            StepKind::Call(c) => c.template.len() * 8,
            StepKind::Inline { .. } => 0,
        })
        .max()
        .unwrap_or(8)
        .max(8);
    let mut fctx = FunctionBuilderContext::new();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let p = b.block_params(entry).to_vec();
        let slot = b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            slot_bytes as u32,
            4,
        ));
        let mut t = Translator {
            b,
            plan,
            arena: p[0],
            inputs: p[1],
            outputs: p[2],
            pool: p[3],
            slot,
            call_conv,
        };
        for (i, step) in plan.steps.iter().enumerate() {
            if profile {
                t.emit_mark(i);
            }
            match &step.kind {
                StepKind::Call(c) => t.emit_call(c),
                StepKind::Inline { op, a, b, y, n } => t.emit_inline(*op, *a, *b, *y, *n),
            }
        }
        if profile {
            t.emit_mark(plan.steps.len());
        }
        let ok = t.b.ins().iconst(types::I32, 0);
        t.b.ins().return_(&[ok]);
        t.b.finalize(frontend_config);
    }
    let clif = ctx.func.display().to_string();
    let id = module
        .declare_function("bqml_model", Linkage::Export, &sig)
        .map_err(|e| e.to_string())?;
    module
        .define_function(id, &mut ctx)
        .map_err(|e| format!("cranelift: {e:?}"))?;
    module.clear_context(&mut ctx);
    module.finalize_definitions().map_err(|e| e.to_string())?;
    let code = module.get_finalized_function(id);
    // SAFETY: the function was generated with exactly the EntryFn signature.
    let entry: EntryFn = unsafe { std::mem::transmute::<*const u8, EntryFn>(code) };
    Ok(Generated {
        entry,
        clif,
        code: Box::new(JitCode(module)),
    })
}
