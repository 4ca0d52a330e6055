//! Cranelift code generation: one native function per model, specialised to its plan.
//! Every step becomes straight-line code with constant arena offsets and sizes: a kernel
//! call whose params struct is copied from its template into a stack slot and completed
//! with the step's pointers, or an inline `f32x4` loop for simple element-wise ops.

use cranelift_codegen::ir::condcodes::IntCC;
use std::collections::HashMap;

use cranelift_codegen::ir::{
    types, AbiParam, FuncRef, GlobalValue, InstBuilder, MemFlagsData, Signature, StackSlotData,
    StackSlotKind, Value,
};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, DataDescription, Linkage, Module};
use cranelift_object::{ObjectBuilder, ObjectModule};

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

/// The CPU that generated code targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TargetCpu {
    /// This machine's features (the JIT always uses this).
    #[default]
    Native,
    /// x86-64-v4: x86-64-v3 plus AVX-512 F/BW/DQ/VL (kernels take their avx512 tier).
    X86_64V4,
    /// x86-64-v3: AVX, AVX2, FMA, BMI1/2, LZCNT and the SSE levels below them.
    X86_64V3,
    /// Baseline x86-64 (SSE2): no AVX in the generated code; kernels take their portable path.
    X86_64,
}

impl std::str::FromStr for TargetCpu {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(TargetCpu::Native),
            "x86-64-v4" => Ok(TargetCpu::X86_64V4),
            "x86-64-v3" => Ok(TargetCpu::X86_64V3),
            "x86-64" => Ok(TargetCpu::X86_64),
            _ => Err(format!(
                "unknown target CPU '{s}' (expected native, x86-64-v4, x86-64-v3 or x86-64)"
            )),
        }
    }
}

impl std::fmt::Display for TargetCpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TargetCpu::Native => "native",
            TargetCpu::X86_64V4 => "x86-64-v4",
            TargetCpu::X86_64V3 => "x86-64-v3",
            TargetCpu::X86_64 => "x86-64",
        })
    }
}

/// The host ISA with the features the generated code may use set explicitly.
pub fn host_isa() -> Result<OwnedTargetIsa, String> {
    isa_for(TargetCpu::Native, false)
}

/// The ISA for `target`; `pic` for code that goes into a shared library.
pub fn isa_for(target: TargetCpu, pic: bool) -> Result<OwnedTargetIsa, String> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v).map_err(|e| format!("cranelift flag {k}: {e}"))
    };
    set(&mut flags, "opt_level", "speed")?;
    // The verifier runs on every compiled function (debug and release alike).
    set(&mut flags, "enable_verifier", "true")?;
    set(&mut flags, "is_pic", if pic { "true" } else { "false" })?;
    let mut isa = match target {
        TargetCpu::Native => {
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
            isa
        }
        TargetCpu::X86_64V4 | TargetCpu::X86_64V3 | TargetCpu::X86_64 => {
            let mut isa = cranelift_codegen::isa::lookup_by_name("x86_64-unknown-linux-gnu")
                .map_err(|e| format!("x86-64 ISA: {e}"))?;
            let preset = match target {
                TargetCpu::X86_64V4 => Some("x86-64-v4"),
                TargetCpu::X86_64V3 => Some("x86-64-v3"),
                _ => None,
            };
            if let Some(preset) = preset {
                // The presets leave `has_avx` off; v3 CPUs all have it (AVX2 implies AVX).
                for flag in [preset, "has_avx"] {
                    isa.enable(flag)
                        .map_err(|e| format!("cranelift {flag}: {e}"))?;
                }
            }
            isa
        }
    };
    if target == TargetCpu::X86_64 {
        // Nothing beyond SSE2: the preset enables no extension.
        isa.enable("baseline")
            .map_err(|e| format!("cranelift baseline: {e}"))?;
    }
    isa.finish(settings::Flags::new(flags))
        .map_err(|e| format!("{target} ISA: {e}"))
}

/// The CPU features an ISA's code may use, as a `runtime::artifact::FEATURES` mask.
pub fn isa_features(isa: &dyn cranelift_codegen::isa::TargetIsa) -> u64 {
    isa.isa_flags()
        .iter()
        .filter(|v| v.as_bool() == Some(true))
        .filter_map(|v| {
            let name = v.name.strip_prefix("has_")?;
            let name = match name {
                "sse41" => "sse4.1",
                "sse42" => "sse4.2",
                n => n,
            };
            runtime::artifact::feature_bit(name)
        })
        .fold(0, |a, b| a | b)
}

/// How generated code reaches constants and kernels.
enum Link {
    /// JIT: constants, templates and kernels by their addresses in this process.
    Absolute,
    /// Object file: every constant and template is a data object, every kernel an
    /// imported function, all referred to by symbol.
    Symbols {
        consts: Vec<GlobalValue>,
        templates: HashMap<usize, GlobalValue>,
        kernels: HashMap<&'static str, FuncRef>,
        run_rows: FuncRef,
    },
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
    link: Link,
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
            Ptr::Abs(a) => self.emit_const_addr(a),
        }
    }

    /// The address of constant data at `addr` in this process.
    fn emit_const_addr(&mut self, addr: usize) -> Value {
        match &self.link {
            Link::Absolute => self.b.ins().iconst(PTR, addr as i64),
            Link::Symbols { consts, .. } => {
                // `generate_object` checked every constant address beforehand.
                let (i, off) = self.plan.const_at(addr).unwrap_or((0, 0));
                let gv = consts[i];
                let base = self.b.ins().symbol_value(PTR, gv);
                if off == 0 {
                    base
                } else {
                    self.b.ins().iadd_imm_s(base, off as i64)
                }
            }
        }
    }

    /// The address of step `step`'s params template.
    fn emit_template_addr(&mut self, step: usize, c: &KernelCall) -> Value {
        match &self.link {
            Link::Absolute => self.b.ins().iconst(PTR, c.template.as_ptr() as i64),
            Link::Symbols { templates, .. } => {
                let gv = templates[&step];
                self.b.ins().symbol_value(PTR, gv)
            }
        }
    }

    /// Calls kernel `c` (directly by symbol or through its address); returns its result,
    /// if the signature has one.
    fn emit_kernel_call(
        &mut self,
        c: &KernelCall,
        sig: Signature,
        args: &[Value],
    ) -> Option<Value> {
        let inst = match &self.link {
            Link::Absolute => {
                let sr = self.b.import_signature(sig);
                let callee = self.b.ins().iconst(PTR, c.addr as i64);
                self.b.ins().call_indirect(sr, callee, args)
            }
            Link::Symbols { kernels, .. } => {
                let f = kernels[c.symbol];
                self.b.ins().call(f, args)
            }
        };
        self.b.inst_results(inst).first().copied()
    }

    /// `bqml_run_rows(pool, kernel, params, rows)` for kernel `c`.
    fn emit_run_rows(&mut self, c: &KernelCall, params: Value, rows: usize) {
        let n = self.b.ins().iconst(PTR, rows as i64);
        match &self.link {
            Link::Absolute => {
                let sig = self.sig(&[PTR, PTR, PTR, PTR], None);
                let sr = self.b.import_signature(sig);
                let callee = self.b.ins().iconst(PTR, c.addr as i64);
                let run = self
                    .b
                    .ins()
                    .iconst(PTR, runtime::pool::bqml_run_rows as *const () as i64);
                self.b
                    .ins()
                    .call_indirect(sr, run, &[self.pool, callee, params, n]);
            }
            Link::Symbols {
                kernels, run_rows, ..
            } => {
                let (k, run) = (kernels[c.symbol], *run_rows);
                let callee = self.b.ins().func_addr(PTR, k);
                self.b.ins().call(run, &[self.pool, callee, params, n]);
            }
        }
    }

    fn sig(&self, params: &[types::Type], ret: Option<types::Type>) -> Signature {
        let mut s = Signature::new(self.call_conv);
        s.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        s.returns.extend(ret.map(AbiParam::new));
        s
    }

    /// Copies the params template into the stack slot, stores the pointer fields, calls.
    fn emit_call(&mut self, step: usize, c: &KernelCall) {
        let t = self.emit_template_addr(step, c);
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
        match c.kind {
            CallKind::Once => {
                let sig = self.sig(&[PTR], None);
                self.emit_kernel_call(c, sig, &[params]);
            }
            CallKind::Checked { code } => {
                let sig = self.sig(&[PTR], Some(types::I32));
                let Some(status) = self.emit_kernel_call(c, sig, &[params]) else {
                    unreachable!("a checked kernel's signature returns its status");
                };
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
            CallKind::Rows { rows } => self.emit_run_rows(c, params, rows),
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

/// The entry function's signature.
fn entry_sig(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.extend([AbiParam::new(PTR); 4]);
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

/// Translates the plan into `ctx.func`; `declare` runs first, inside the builder, to set up
/// how constants and kernels are reached.
fn translate(
    ctx: &mut cranelift_codegen::Context,
    isa: &dyn cranelift_codegen::isa::TargetIsa,
    plan: &Plan,
    steps: std::ops::Range<usize>,
    profile: bool,
    declare: impl FnOnce(&mut cranelift_codegen::ir::Function) -> Link,
) {
    let call_conv = isa.default_call_conv();
    ctx.func.signature = entry_sig(call_conv);
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
    let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
    let link = declare(b.func);
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
        link,
    };
    let last = steps.end == plan.steps.len();
    for i in steps {
        if profile {
            t.emit_mark(i);
        }
        match &plan.steps[i].kind {
            StepKind::Call(c) => t.emit_call(i, c),
            StepKind::Inline { op, a, b, y, n } => t.emit_inline(*op, *a, *b, *y, *n),
        }
    }
    if profile && last {
        t.emit_mark(plan.steps.len());
    }
    let ok = t.b.ins().iconst(types::I32, 0);
    t.b.ins().return_(&[ok]);
    t.b.finalize(isa.frontend_config());
}

/// Most steps translated into one Cranelift function. Register allocation is superlinear
/// in a function's size, so longer plans become one part function per this many steps,
/// called in order by the entry (which returns the first non-zero status).
pub const STEPS_PER_FUNCTION: usize = 2048;

/// The step ranges of the part functions; one range (the whole plan) when it fits.
pub fn parts(plan: &Plan) -> Vec<std::ops::Range<usize>> {
    let n = plan.steps.len();
    if n <= STEPS_PER_FUNCTION {
        return std::iter::once(0..n).collect();
    }
    (0..n)
        .step_by(STEPS_PER_FUNCTION)
        .map(|s| s..(s + STEPS_PER_FUNCTION).min(n))
        .collect()
}

/// Builds into `ctx.func` an entry that calls `parts` in order, returning the first
/// non-zero status.
fn translate_entry(
    ctx: &mut cranelift_codegen::Context,
    isa: &dyn cranelift_codegen::isa::TargetIsa,
    parts: impl FnOnce(&mut cranelift_codegen::ir::Function) -> Vec<FuncRef>,
) {
    ctx.func.signature = entry_sig(isa.default_call_conv());
    let mut fctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
    let refs = parts(b.func);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let p = b.block_params(entry).to_vec();
    for f in refs {
        let call = b.ins().call(f, &p);
        let status = b.inst_results(call)[0];
        let fail = b.create_block();
        let cont = b.create_block();
        b.ins().brif(status, fail, &[], cont, &[]);
        b.switch_to_block(fail);
        b.seal_block(fail);
        b.ins().return_(&[status]);
        b.switch_to_block(cont);
        b.seal_block(cont);
    }
    let ok = b.ins().iconst(types::I32, 0);
    b.ins().return_(&[ok]);
    b.finalize(isa.frontend_config());
}

/// Translates the plan into `module` as one exported function `name` with the entry
/// signature, and returns its id and CLIF text. A plan longer than one part ([`parts`])
/// becomes local part functions called in order by the exported one, which returns the
/// first non-zero status. `link` declares what step range `r`'s code refers to.
fn define_entry<M: Module>(
    module: &mut M,
    ctx: &mut cranelift_codegen::Context,
    isa: &dyn cranelift_codegen::isa::TargetIsa,
    plan: &Plan,
    profile: bool,
    name: &str,
    mut link: impl FnMut(&mut M, &mut cranelift_codegen::ir::Function, &std::ops::Range<usize>) -> Link,
) -> Result<(cranelift_module::FuncId, String), String> {
    let sig = entry_sig(isa.default_call_conv());
    let ranges = parts(plan);
    let mut clif = String::new();
    let mut part_ids = Vec::new();
    for (k, r) in ranges.iter().enumerate() {
        translate(ctx, isa, plan, r.clone(), profile, |func| {
            link(module, func, r)
        });
        clif += &ctx.func.display().to_string();
        if ranges.len() == 1 {
            break;
        }
        let id = module
            .declare_function(&format!("bqml_model_part{k}"), Linkage::Local, &sig)
            .map_err(|e| e.to_string())?;
        module
            .define_function(id, ctx)
            .map_err(|e| format!("cranelift: {e:?}"))?;
        module.clear_context(ctx);
        part_ids.push(id);
    }
    if !part_ids.is_empty() {
        translate_entry(ctx, isa, |func| {
            part_ids
                .iter()
                .map(|&id| module.declare_func_in_func(id, func))
                .collect()
        });
        clif += &ctx.func.display().to_string();
    }
    let id = module
        .declare_function(name, Linkage::Export, &sig)
        .map_err(|e| e.to_string())?;
    module
        .define_function(id, ctx)
        .map_err(|e| format!("cranelift: {e:?}"))?;
    Ok((id, clif))
}

/// Compiles the plan into one native function `(arena, inputs, outputs, pool) -> status`.
/// With `profile`, the function calls `runtime::profile::bqml_prof_mark(i)` before step `i`
/// and after the last step.
pub fn generate(plan: &Plan, profile: bool) -> Result<Generated, String> {
    let isa = host_isa()?;
    let mut module = JITModule::new(JITBuilder::with_isa(isa.clone(), default_libcall_names()));
    let mut ctx = module.make_context();
    let (id, clif) = define_entry(
        &mut module,
        &mut ctx,
        &*isa,
        plan,
        profile,
        "bqml_model",
        |_, _, _| Link::Absolute,
    )?;
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

/// A relocatable object file for a plan, ready to link into a shared library.
pub struct GeneratedObject {
    /// ELF object bytes: `runtime::artifact::ENTRY_SYMBOL`, the metadata symbol, and local
    /// data objects for constants and params templates; kernels are undefined symbols.
    pub bytes: Vec<u8>,
    /// The entry function's CLIF text.
    pub clif: String,
    /// The CPU features the code uses (`runtime::artifact::FEATURES` mask).
    pub features: u64,
}

/// Compiles the plan into a position-independent object for `target`; `meta` is the
/// metadata block (see `runtime::artifact`) with its feature mask left for this function
/// to fill in (bytes 16..24).
pub fn generate_object(
    plan: &Plan,
    target: TargetCpu,
    mut meta: Vec<u8>,
) -> Result<GeneratedObject, String> {
    let isa = isa_for(target, true)?;
    let features = isa_features(&*isa);
    if meta.len() < 24 {
        return Err("artifact metadata block is too short".into());
    }
    // The caller's mask (the kernels' tier) joins the generated code's features.
    let mut caller = [0u8; 8];
    caller.copy_from_slice(&meta[16..24]);
    let features = features | u64::from_le_bytes(caller);
    meta[16..24].copy_from_slice(&features.to_le_bytes());
    let builder = ObjectBuilder::new(isa.clone(), "bqml_model", default_libcall_names())
        .map_err(|e| format!("object builder: {e}"))?;
    let mut module = ObjectModule::new(builder);
    let err = |e: cranelift_module::ModuleError| format!("object file: {e}");

    // Constant regions: copied into read-only data objects.
    let mut const_ids = Vec::with_capacity(plan.consts.len());
    for (i, c) in plan.consts.iter().enumerate() {
        let id = module
            .declare_data(&format!("bqml_c{i}"), Linkage::Local, false, false)
            .map_err(err)?;
        let mut d = DataDescription::new();
        // SAFETY: `addr..addr + len` is a constant region kept alive by `plan.keep`.
        let bytes = unsafe { std::slice::from_raw_parts(c.addr as *const u8, c.len) };
        let mut v = bytes.to_vec();
        v.resize(c.len.max(8), 0);
        d.define(v.into_boxed_slice());
        d.set_align(64);
        module.define_data(id, &d).map_err(err)?;
        const_ids.push(id);
    }
    // Templates, kernels and the pool entry.
    let mut template_ids = Vec::new();
    let mut kernel_ids: HashMap<&'static str, (cranelift_module::FuncId, CallKind)> =
        HashMap::new();
    let call_conv = isa.default_call_conv();
    for (i, step) in plan.steps.iter().enumerate() {
        let StepKind::Call(c) = &step.kind else {
            continue;
        };
        let words = &c.template;
        if let Some(w) = words
            .iter()
            .find(|&&w| w != 0 && plan.const_at(w as usize).is_some())
        {
            return Err(format!(
                "step {i} ({}, node '{}'): its params template embeds the address {w:#x} of a constant; \
                 pointers must be pointer fields for an object file",
                c.symbol, step.node
            ));
        }
        let id = module
            .declare_data(&format!("bqml_t{i}"), Linkage::Local, false, false)
            .map_err(err)?;
        let mut d = DataDescription::new();
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        d.define(bytes.into_boxed_slice());
        d.set_align(8);
        module.define_data(id, &d).map_err(err)?;
        template_ids.push((i, id));
        let mut ksig = Signature::new(call_conv);
        match c.kind {
            CallKind::Once => ksig.params.push(AbiParam::new(PTR)),
            CallKind::Checked { .. } => {
                ksig.params.push(AbiParam::new(PTR));
                ksig.returns.push(AbiParam::new(types::I32));
            }
            CallKind::Rows { .. } => ksig.params.extend([AbiParam::new(PTR); 3]),
        }
        if let Some((_, kind)) = kernel_ids.get(c.symbol) {
            let same = std::mem::discriminant(kind) == std::mem::discriminant(&c.kind);
            if !same {
                return Err(format!(
                    "kernel {} is called with two different signatures",
                    c.symbol
                ));
            }
            continue;
        }
        let id = module
            .declare_function(c.symbol, Linkage::Import, &ksig)
            .map_err(err)?;
        kernel_ids.insert(c.symbol, (id, c.kind));
    }
    for step in &plan.steps {
        let check = |p: &Ptr| match p {
            Ptr::Abs(a) if plan.const_at(*a).is_none() => Err(format!(
                "node '{}': constant address {a:#x} is not in any recorded constant region",
                step.node
            )),
            _ => Ok(()),
        };
        match &step.kind {
            StepKind::Call(c) => {
                for p in c
                    .ptrs
                    .iter()
                    .map(|x| &x.1)
                    .chain(c.loads.iter().map(|x| &x.1))
                {
                    check(p)?;
                }
            }
            StepKind::Inline { a, b, y, .. } => {
                for p in [Some(a), b.as_ref(), Some(y)].into_iter().flatten() {
                    check(p)?;
                }
            }
        }
    }
    let mut rsig = Signature::new(call_conv);
    rsig.params.extend([AbiParam::new(PTR); 4]);
    let run_rows_id = module
        .declare_function("bqml_run_rows", Linkage::Import, &rsig)
        .map_err(err)?;

    let mut ctx = module.make_context();
    let (_, clif) = define_entry(
        &mut module,
        &mut ctx,
        &*isa,
        plan,
        false,
        runtime::artifact::ENTRY_SYMBOL,
        |module, func, r| Link::Symbols {
            consts: const_ids
                .iter()
                .map(|&id| module.declare_data_in_func(id, func))
                .collect(),
            templates: template_ids
                .iter()
                .filter(|(i, _)| r.contains(i))
                .map(|&(i, id)| (i, module.declare_data_in_func(id, func)))
                .collect(),
            kernels: kernel_ids
                .iter()
                .map(|(&name, &(id, _))| (name, module.declare_func_in_func(id, func)))
                .collect(),
            run_rows: module.declare_func_in_func(run_rows_id, func),
        },
    )?;
    module.clear_context(&mut ctx);

    let meta_id = module
        .declare_data(
            runtime::artifact::META_SYMBOL,
            Linkage::Export,
            false,
            false,
        )
        .map_err(err)?;
    let mut d = DataDescription::new();
    d.define(meta.into_boxed_slice());
    d.set_align(8);
    module.define_data(meta_id, &d).map_err(err)?;
    let bytes = module
        .finish()
        .emit()
        .map_err(|e| format!("object file: {e}"))?;
    Ok(GeneratedObject {
        bytes,
        clif,
        features,
    })
}
