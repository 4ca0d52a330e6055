//! `bqmlc bench`: latency, throughput and peak memory of one model on one backend, the
//! machine's FMA peak, per-node profiles, and interleaved comparison with ONNX Runtime.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use compiler::{Graph, ImportOptions};
use runtime::{DType, Tensor};

use crate::cmd_model::{parse_input_shape, read_tensor_file, Backend};

fn parse_threads(s: &str) -> Result<usize, String> {
    crate::cmd_sql::parse_threads(s).map(usize::from)
}

#[derive(Args)]
pub struct BenchArgs {
    /// The .onnx file, or a shared library from `bqmlc compile -o` (not needed with --peak).
    pub model: Option<PathBuf>,
    /// Engine for an .onnx file (default: reference).
    #[arg(long = "backend", value_enum)]
    pub backend_arg: Option<Backend>,
    /// Worker threads, at most 1024 (also ONNX Runtime's intra-op threads with --compare-ort).
    #[arg(long, default_value_t = 1, value_parser = parse_threads)]
    pub threads: usize,
    /// Untimed runs before measuring.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed runs (rounds, with --compare-ort).
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Pause this many ms before each timed run: the latency of a run that follows an
    /// idle machine (a sparse stream of requests) instead of back-to-back runs.
    #[arg(long, default_value_t = 0)]
    pub idle_ms: u64,
    /// An input value NAME=FILE (.npy or .pb); others default to seeded uniform [0,1).
    #[arg(long = "input", value_name = "NAME=FILE")]
    pub inputs: Vec<String>,
    /// Concrete shape for an input with symbolic dimensions.
    #[arg(long = "input-shape", value_name = "NAME=AxBxC")]
    pub input_shapes: Vec<String>,
    /// Print one JSON object as the last line of stdout.
    #[arg(long)]
    pub json: bool,
    /// Measure this CPU's float32 FMA peak per thread count and exit.
    #[arg(long)]
    pub peak: bool,
    /// Alternate blocks of runs with ONNX Runtime (from Python, the settings of
    /// shared/tools/bench_ort.py) that never overlap in time, and report the ORT/bqmlc ratio.
    #[arg(long)]
    pub compare_ort: bool,
    /// Per-node (reference) or per-kernel (jit) time, share, GFLOP/s and GB/s (jit: bytes of
    /// the node's inputs and outputs, weights included, over the step's time).
    #[arg(long)]
    pub profile: bool,
    /// Interleave runs with this ahead-of-time library (from `bqmlc compile -o`) on the same
    /// inputs and report both medians and the ratio.
    #[arg(long, value_name = "libNAME.so")]
    pub compare_library: Option<PathBuf>,
    /// Python interpreter with onnxruntime and numpy (default: $BQMLC_PYTHON or python3).
    #[arg(long)]
    pub python: Option<String>,
    #[command(flatten)]
    pub flags: crate::compile_flags::CompileFlags,
}

impl BenchArgs {
    /// The engine for an .onnx model.
    pub fn backend(&self) -> Backend {
        self.backend_arg.unwrap_or(Backend::Reference)
    }
}

/// Latency statistics over timed runs.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub median_ms: f64,
    pub min_ms: f64,
    pub p90_ms: f64,
}

/// Median, min and 90th percentile (nearest rank) of run times in milliseconds.
pub fn stats(times_ms: &[f64]) -> Stats {
    let mut v = times_ms.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return Stats {
            median_ms: f64::NAN,
            min_ms: f64::NAN,
            p90_ms: f64::NAN,
        };
    }
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let p90 = v[((n as f64 * 0.9).ceil() as usize).clamp(1, n) - 1];
    Stats {
        median_ms: median,
        min_ms: v[0],
        p90_ms: p90,
    }
}

/// Peak resident set size of this process in MiB (VmHWM), 0 when unavailable.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A deterministic uniform [0,1) tensor (splitmix64), so runs are reproducible.
pub fn seeded_uniform(shape: &[usize], seed: u64) -> Tensor {
    let mut s = seed;
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    Tensor::f32(shape.to_vec(), data)
}

/// A loaded model ready to run repeatedly on one backend.
struct Runner {
    /// The imported graph (`None` for an ahead-of-time library).
    graph: Option<Graph>,
    /// Floating-point operations of one run.
    flops: f64,
    /// What runs: "reference", "jit" or "aot".
    label: &'static str,
    inputs: Vec<(String, Tensor)>,
    /// The compiled model, its caller state and step descriptions (jit backend).
    jit: Option<(
        runtime::CompiledModel,
        runtime::State,
        Vec<compiler::StepInfo>,
    )>,
}

impl Runner {
    fn run_once(&mut self) -> Result<()> {
        match &mut self.jit {
            None => {
                let named: Vec<(&str, &Tensor)> =
                    self.inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
                let graph = self.graph.as_ref().ok_or_else(|| anyhow!("no graph"))?;
                compiler::reference::run(graph, &named)?;
            }
            Some((model, state, _)) => {
                let named: Vec<(&str, &Tensor)> =
                    self.inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
                model.predict_named(state, &named).map_err(|e| anyhow!(e))?;
            }
        }
        Ok(())
    }
}

/// An input for every spec: the given file, else seeded uniform [0,1) for float32.
fn bench_inputs(
    specs: impl Iterator<Item = (String, DType, Vec<usize>)>,
    given: &[(String, Tensor)],
) -> Result<Vec<(String, Tensor)>> {
    let mut inputs = Vec::new();
    for (k, (name, dtype, shape)) in specs.enumerate() {
        match given.iter().find(|(n, _)| *n == name) {
            Some((_, t)) => inputs.push((name, t.clone())),
            None if dtype == DType::F32 => {
                let t = seeded_uniform(&shape, k as u64);
                inputs.push((name, t))
            }
            None => bail!("input '{name}': {dtype} inputs need --input NAME=FILE"),
        }
    }
    Ok(inputs)
}

/// Loads an ahead-of-time library; "compile" time is the load time.
fn prepare_artifact(
    args: &BenchArgs,
    model: &Path,
    given: &[(String, Tensor)],
) -> Result<(Runner, f64)> {
    if args.profile || args.compare_ort {
        bail!("--profile and --compare-ort need the .onnx model, not a compiled library");
    }
    if args.backend_arg.is_some() {
        bail!(
            "{}: an ahead-of-time library runs its own compiled code; --backend does not apply",
            model.display()
        );
    }
    artifact_runner(args.threads, model, given)
}

/// A runner for a library on `threads` threads; also returns the load time in ms.
fn artifact_runner(
    threads: usize,
    model: &Path,
    given: &[(String, Tensor)],
) -> Result<(Runner, f64)> {
    let t0 = Instant::now();
    let (m, meta) = runtime::artifact::load(model).map_err(|e| anyhow!(e))?;
    let state = m.new_state(threads);
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let specs = m
        .inputs()
        .iter()
        .map(|s| (s.name.clone(), s.dtype, s.shape.clone()));
    let inputs = bench_inputs(specs, given)?;
    Ok((
        Runner {
            graph: None,
            flops: meta.flops as f64,
            label: "aot",
            inputs,
            jit: Some((m, state, Vec::new())),
        },
        load_ms,
    ))
}

fn prepare(args: &BenchArgs, model: &Path) -> Result<(Runner, f64)> {
    let mut given = Vec::new();
    for s in &args.inputs {
        let (name, file) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("--input '{s}' must look like NAME=FILE"))?;
        let t = read_tensor_file(Path::new(file)).map_err(|e| anyhow!("input '{name}': {e}"))?;
        given.push((name.to_string(), t));
    }
    if runtime::artifact::looks_like_artifact(model) {
        return prepare_artifact(args, model, &given);
    }
    let mut opts = ImportOptions::default();
    for s in &args.input_shapes {
        let (n, shape) = parse_input_shape(s)?;
        opts.input_shapes.insert(n, shape);
    }
    for (n, t) in &given {
        opts.input_shapes
            .entry(n.clone())
            .or_insert_with(|| t.shape().to_vec());
    }
    // Compile time: from the ONNX file to ready-to-run code.
    let t0 = Instant::now();
    let graph = compiler::load_file(model, &opts).with_context(|| model.display().to_string())?;
    let jit = match args.backend() {
        Backend::Reference => None,
        Backend::Jit => {
            let opts = compiler::CompileOptions {
                profile: args.profile,
                ..args.flags.options()?
            };
            let (m, steps) = compiler::compile_with(graph.clone(), &opts)?;
            let state = m.new_state(args.threads);
            Some((m, state, steps))
        }
    };
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
    let specs = graph.inputs.iter().map(|&id| {
        let v = &graph.values[id];
        (v.name.clone(), v.dtype, v.shape.clone())
    });
    let inputs = bench_inputs(specs, &given)?;
    Ok((
        Runner {
            flops: graph.flops() as f64,
            graph: Some(graph),
            label: backend_name(args.backend()),
            inputs,
            jit,
        },
        compile_ms,
    ))
}

/// Times one run, after `idle_ms` of idleness (see `--idle-ms`).
fn time_once(r: &mut Runner, idle_ms: u64) -> Result<f64> {
    if idle_ms > 0 {
        std::thread::sleep(Duration::from_millis(idle_ms));
    }
    let t = Instant::now();
    r.run_once()?;
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Reference => "reference",
        Backend::Jit => "jit",
    }
}

pub fn bench(args: &BenchArgs) -> Result<()> {
    if args.peak {
        return peak(args);
    }
    let model = args
        .model
        .as_deref()
        .ok_or_else(|| anyhow!("bench needs MODEL.onnx (or --peak)"))?;
    let (mut runner, compile_ms) = prepare(args, model)?;
    if args.compare_ort {
        return compare_ort(args, model, &mut runner);
    }
    if let Some(lib) = &args.compare_library {
        return compare_library(args, model, lib, runner);
    }
    let flops = runner.flops;
    if args.profile {
        return profile(args, &mut runner);
    }
    for _ in 0..args.warmup {
        runner.run_once()?;
    }
    let times: Vec<f64> = (0..args.runs.max(1))
        .map(|_| time_once(&mut runner, args.idle_ms))
        .collect::<Result<_>>()?;
    let s = stats(&times);
    let gflops = flops / (s.median_ms * 1e6);
    let peak = kernels::measure_fma_peak(args.threads, Duration::from_millis(200));
    let rss = peak_rss_mib();
    let name = model.file_name().map_or_else(
        || model.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    println!("model      {name}");
    println!("backend    {} ({} thread(s))", runner.label, args.threads);
    println!("compile    {compile_ms:.1} ms");
    println!("runs       {} (after {} warm-up)", times.len(), args.warmup);
    println!(
        "latency    median {:.3} ms   min {:.3} ms   p90 {:.3} ms",
        s.median_ms, s.min_ms, s.p90_ms
    );
    println!("throughput {gflops:.2} GFLOP/s of {:.4} GFLOP = {:.1}% of the measured peak {peak:.1} GFLOP/s", flops / 1e9, 100.0 * gflops / peak);
    println!("peak RSS   {rss:.1} MiB");
    if args.json {
        println!(
            "{{\"model\":{},\"backend\":\"{}\",\"threads\":{},\"runs\":{},\"median_ms\":{:.4},\"min_ms\":{:.4},\"p90_ms\":{:.4},\"compile_ms\":{:.3},\"gflop\":{:.6},\"gflops\":{:.3},\"peak_gflops\":{:.3},\"pct_of_peak\":{:.2},\"peak_rss_mib\":{:.2}}}",
            json_str(&name),
            runner.label,
            args.threads,
            times.len(),
            s.median_ms,
            s.min_ms,
            s.p90_ms,
            compile_ms,
            flops / 1e9,
            gflops,
            peak,
            100.0 * gflops / peak,
            rss
        );
    }
    Ok(())
}

/// `--compare-library`: alternating rounds of the model's runner and the library's, same
/// inputs.
fn compare_library(args: &BenchArgs, model: &Path, lib: &Path, mut a: Runner) -> Result<()> {
    let (mut b, _) = artifact_runner(args.threads, lib, &a.inputs)?;
    for _ in 0..args.warmup {
        a.run_once()?;
        b.run_once()?;
    }
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    // A B, B A, …: neither side always runs right after the other.
    for round in 0..args.runs.max(1) {
        if round % 2 == 0 {
            ta.push(time_once(&mut a, args.idle_ms)?);
            tb.push(time_once(&mut b, args.idle_ms)?);
        } else {
            tb.push(time_once(&mut b, args.idle_ms)?);
            ta.push(time_once(&mut a, args.idle_ms)?);
        }
    }
    let (sa, sb) = (stats(&ta), stats(&tb));
    let size = std::fs::metadata(lib).map(|m| m.len()).unwrap_or(0);
    println!(
        "median: {} {} {:.3} ms, library {} {:.3} ms ({:.1} MB), ratio library/{} {:.3}, {} thread(s), {} rounds",
        model.display(),
        a.label,
        sa.median_ms,
        lib.display(),
        sb.median_ms,
        size as f64 / 1e6,
        a.label,
        sb.median_ms / sa.median_ms,
        args.threads,
        ta.len()
    );
    Ok(())
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn peak(args: &BenchArgs) -> Result<()> {
    let max = args
        .threads
        .max(std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("float32 FMA peak ({:?}):", kernels::Isa::detect());
    for t in 1..=max {
        let mut v: Vec<f64> = (0..5)
            .map(|_| kernels::measure_fma_peak(t, Duration::from_millis(200)))
            .collect();
        v.sort_by(f64::total_cmp);
        println!(
            "  {t} thread(s): median {:.1} GFLOP/s (min {:.1}, max {:.1}, 5 x 200 ms)",
            v[2], v[0], v[4]
        );
    }
    Ok(())
}

/// `(node, op or kernel, multiply-adds, bytes moved)` of one profile row.
type ProfileRow = (String, String, u64, u64);

fn profile(args: &BenchArgs, r: &mut Runner) -> Result<()> {
    let runs = args.runs.max(1);
    for _ in 0..args.warmup {
        r.run_once()?;
    }
    // A row per node (reference) or step (jit) and per-run times in ms.
    let (rows, per_run): (Vec<ProfileRow>, Vec<Vec<f64>>) = match args.backend() {
        Backend::Reference => {
            let named: Vec<(&str, &Tensor)> =
                r.inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
            let mut rows = Vec::new();
            let mut per_run = Vec::new();
            for _ in 0..runs {
                let mut p = Vec::new();
                let graph = r.graph.as_ref().ok_or_else(|| anyhow!("no graph"))?;
                compiler::reference::run_profiled(graph, &named, Some(&mut p))?;
                rows = p
                    .iter()
                    .map(|t| (t.node.clone(), t.op_type.clone(), t.macs, 0))
                    .collect();
                per_run.push(p.iter().map(|t| t.time.as_secs_f64() * 1e3).collect());
            }
            (rows, per_run)
        }
        Backend::Jit => {
            let steps = r
                .jit
                .as_ref()
                .map(|(_, _, s)| s.clone())
                .unwrap_or_default();
            let mut per_run = Vec::new();
            for _ in 0..runs {
                runtime::profile::take_marks();
                r.run_once()?;
                let marks = runtime::profile::take_marks();
                per_run.push(
                    runtime::profile::step_times(&marks, steps.len())
                        .iter()
                        .map(|s| s * 1e3)
                        .collect(),
                );
            }
            (
                steps
                    .iter()
                    .map(|s| (s.node.clone(), s.desc.clone(), s.macs, s.bytes))
                    .collect(),
                per_run,
            )
        }
    };
    let medians: Vec<f64> = (0..rows.len())
        .map(|i| stats(&per_run.iter().map(|v: &Vec<f64>| v[i]).collect::<Vec<_>>()).median_ms)
        .collect();
    let total: f64 = medians.iter().sum();
    println!(
        "{:<44} {:<72} {:>9} {:>7} {:>8} {:>7}",
        "node", "kernel", "ms", "share", "GFLOP/s", "GB/s"
    );
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| medians[b].total_cmp(&medians[a]));
    let clip = |s: &str, n: usize| {
        if s.chars().count() > n {
            format!(
                "…{}",
                s.chars()
                    .skip(s.chars().count() + 1 - n)
                    .collect::<String>()
            )
        } else {
            s.to_string()
        }
    };
    for i in order {
        let gf = if rows[i].2 > 0 && medians[i] > 0.0 {
            2.0 * rows[i].2 as f64 / (medians[i] * 1e6)
        } else {
            0.0
        };
        // Bytes of the node's inputs and outputs (weights included) over the step's time.
        let gb = if rows[i].3 > 0 && medians[i] > 0.0 {
            format!("{:.1}", rows[i].3 as f64 / (medians[i] * 1e6))
        } else {
            "-".into()
        };
        println!(
            "{:<44} {:<72} {:>9.3} {:>6.1}% {:>8.2} {:>7}",
            clip(&rows[i].0, 44),
            clip(&rows[i].1, 72),
            medians[i],
            100.0 * medians[i] / total,
            gf,
            gb
        );
    }
    println!(
        "total {total:.3} ms (sum of per-step medians over {runs} run(s), {} backend)",
        r.label
    );
    Ok(())
}

/// Where the ONNX Runtime peer script lives (in the repository).
fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/ort_peer.py")
}

/// Timed runs per side per `--compare-ort` round.
const COMPARE_BLOCK: usize = 5;

/// Untimed runs before each side's timed block. Every block follows an idle pause or the other
/// side's runs (cold caches, sleeping workers, a clocked-down core); without these, the side
/// after the pause paid for it in most of its block (ShuffleNetV2 at two threads: 2.8 ms in
/// the comparison against 2.0 ms alone) while the side right after it did not.
const COMPARE_WARM: usize = 2;

/// Pause after ONNX Runtime's block: longer than its intra-op workers spin after a run
/// (they spin-wait for further work, then block), so they never share the CPU with bqmlc.
const ORT_SPIN_SETTLE: Duration = Duration::from_millis(100);

fn compare_ort(args: &BenchArgs, model: &Path, r: &mut Runner) -> Result<()> {
    let python = args
        .python
        .clone()
        .or_else(|| std::env::var("BQMLC_PYTHON").ok())
        .unwrap_or_else(|| "python3".into());
    let hint = format!(
        "ONNX Runtime is needed for --compare-ort: install it with `{python} -m pip install onnxruntime numpy` \
         (or `python3 -m venv venv && venv/bin/pip install onnxruntime numpy`, then pass --python venv/bin/python or set BQMLC_PYTHON)"
    );
    let probe = Command::new(&python)
        .args(["-c", "import onnxruntime, numpy"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => bail!("{hint}"),
    }
    let dir = std::env::temp_dir().join(format!("bqmlc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut cmd = Command::new(&python);
    cmd.arg(peer_script())
        .arg(model)
        .arg("--threads")
        .arg(args.threads.to_string());
    for (i, (name, t)) in r.inputs.iter().enumerate() {
        let f = dir.join(format!("input_{i}.npy"));
        runtime::npy::write(&f, t).map_err(|e| anyhow!(e))?;
        cmd.arg("--input").arg(format!("{name}={}", f.display()));
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {python}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let Some(ready) = line.trim().strip_prefix("ready ") else {
        let _ = child.wait();
        bail!("ONNX Runtime peer failed: {}", line.trim());
    };
    let ort_options = ready.split_once(' ').map_or("", |(_, o)| o);
    // One block = `block` timed runs of one side; the other side never runs meanwhile.
    let mut ort_block = |n: usize| -> Result<Vec<f64>> {
        // SIGPIPE ends bqmlc on a write to a closed pipe: check that the peer still runs.
        if let Some(status) = child.try_wait()? {
            bail!("ONNX Runtime peer exited ({status})");
        }
        writeln!(stdin, "run {n} {}", args.idle_ms)?;
        stdin.flush()?;
        let mut l = String::new();
        stdout.read_line(&mut l)?;
        let times: Option<Vec<f64>> = l
            .trim()
            .strip_prefix("ms ")
            .map(|v| v.split(' ').filter_map(|t| t.parse().ok()).collect());
        match times {
            Some(t) if t.len() == n => Ok(t),
            _ => Err(anyhow!("ONNX Runtime peer said: {}", l.trim())),
        }
    };
    // ORT's intra-op workers spin after its last run; wait them out before bqmlc runs.
    let settle = || std::thread::sleep(ORT_SPIN_SETTLE);
    let block = COMPARE_BLOCK;
    for _ in 0..args.warmup.div_ceil(block).max(1) {
        for _ in 0..block {
            r.run_once()?;
        }
        ort_block(block)?;
        settle();
    }
    println!("ONNX Runtime session: {ort_options}");
    println!(
        "{} rounds; each: {block} bqmlc runs and {block} ONNX Runtime runs in turn (order alternates), \
         each side's block after {COMPARE_WARM} untimed runs, {} ms pause after ONNX Runtime's block; \
         per-side median of the block",
        args.runs.max(1),
        ORT_SPIN_SETTLE.as_millis()
    );
    println!("round  bqmlc_ms    ort_ms  ratio(ort/bqmlc)");
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.runs.max(1) {
        let mut ours_block = || -> Result<f64> {
            for _ in 0..COMPARE_WARM {
                r.run_once()?;
            }
            let t = (0..block)
                .map(|_| time_once(r, args.idle_ms))
                .collect::<Result<Vec<_>>>()?;
            Ok(stats(&t).median_ms)
        };
        let mut theirs_block = || -> Result<f64> {
            ort_block(COMPARE_WARM)?;
            Ok(stats(&ort_block(block)?).median_ms)
        };
        let (a, b) = if round % 2 == 0 {
            let a = ours_block()?;
            let b = theirs_block()?;
            settle();
            (a, b)
        } else {
            let b = theirs_block()?;
            settle();
            (ours_block()?, b)
        };
        println!("{round:>5} {a:>9.3} {b:>9.3} {:>10.3}", b / a);
        ours.push(a);
        theirs.push(b);
        ratios.push(b / a);
    }
    let _ = writeln!(stdin, "quit");
    drop(stdin);
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let (so, st, sr) = (stats(&ours), stats(&theirs), stats(&ratios));
    println!(
        "median: bqmlc {:.3} ms ({}), ONNX Runtime {:.3} ms, ratio ORT/bqmlc {:.3} (median of per-round ratios), {} thread(s)",
        so.median_ms,
        r.label,
        st.median_ms,
        sr.median_ms,
        args.threads
    );
    if args.json {
        println!(
            "{{\"backend\":\"{}\",\"threads\":{},\"runs\":{},\"bqmlc_median_ms\":{:.4},\"ort_median_ms\":{:.4},\"ratio_ort_over_bqmlc\":{:.4}}}",
            r.label,
            args.threads,
            ratios.len(),
            so.median_ms,
            st.median_ms,
            sr.median_ms
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_use_nearest_rank_percentiles() {
        let s = stats(&[5.0, 1.0, 3.0, 2.0, 4.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!(s.min_ms, 1.0);
        assert_eq!(s.median_ms, 5.5);
        assert_eq!(s.p90_ms, 9.0);
        assert_eq!(stats(&[3.0]).p90_ms, 3.0);
    }

    #[test]
    fn seeded_inputs_are_reproducible_and_in_range() {
        let a = seeded_uniform(&[2, 3], 7);
        assert_eq!(a, seeded_uniform(&[2, 3], 7));
        assert_ne!(a, seeded_uniform(&[2, 3], 8));
        assert!(a.as_f32().unwrap().iter().all(|&x| (0.0..1.0).contains(&x)));
    }
}
