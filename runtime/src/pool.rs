//! A persistent worker pool that splits one layer's rows between threads. Between the
//! layers of one run, workers and caller spin for a few microseconds (a model is a burst of
//! back-to-back jobs), then block on a condition variable, so an idle pool uses no CPU.
//! A job's parts are claimed, not assigned: the caller takes parts until none are left, so
//! a worker that is slow to wake (after an idle pause the scheduler may even put it on the
//! caller's CPU) delays nothing it has not claimed, and the caller waits only for parts a
//! worker is running. Spinning yields the CPU, so a worker sharing the caller's CPU runs.
//! A condition variable is signalled only when a thread is actually blocked on it: with
//! futex-based condition variables every signal is a system call, and a ResNet-18 run hands
//! out some thirty jobs.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a thread spins for the next job or for job completion before blocking, outside
/// a run.
const SPIN: Duration = Duration::from_micros(50);

/// How long a worker spins for the next job while a run is active ([`Pool::active`]): the
/// next layer is microseconds away, and a worker that blocks costs a wake-up per layer,
/// which after an idle pause (vCPU halted by the hypervisor) took a 2-thread MobileNetV3
/// run from 2.8 to 6.3 ms. Bounded, in case a single-threaded step runs long.
const ACTIVE_SPIN: Duration = Duration::from_millis(5);

/// A row-range kernel entry point: `kernel(params, start, end)`.
pub type RowsKernel = unsafe extern "C" fn(*const u8, usize, usize);

#[derive(Clone, Copy)]
struct Job {
    kernel: RowsKernel,
    params: usize,
    rows: usize,
    parts: usize,
}

/// What the mutex guards. A thread blocks on a condition variable only after recording so
/// here, and whoever changes what it waits for checks that record under the same lock: no
/// wake-up is lost and none is sent in vain.
struct State {
    generation: u64,
    job: Option<Job>,
    shutting_down: bool,
    /// Workers blocked on `wake`.
    sleeping_workers: usize,
    /// The caller is blocked on `done`.
    caller_sleeping: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    done: Condvar,
    /// Mirror of the generation, for spinning without the lock.
    generation: AtomicU64,
    /// `generation << 32 | next unclaimed part` of the current job: a thread claims a part
    /// only for the generation it read the job of.
    claim: AtomicU64,
    /// A run is in progress: workers spin longer between its jobs.
    active: AtomicBool,
    /// Parts of the current job finished. Workers add theirs under the lock (the caller
    /// may be blocked waiting for it); the caller adds its own without.
    finished: AtomicUsize,
}

impl Shared {
    /// How long to spin before blocking: longer while a run is active.
    fn spin_limit(&self) -> Duration {
        if self.active.load(Ordering::Relaxed) {
            ACTIVE_SPIN
        } else {
            SPIN
        }
    }

    /// Claims the next part of job `generation` (of `parts`), if any is left.
    fn claim(&self, generation: u64, parts: usize) -> Option<usize> {
        let mut v = self.claim.load(Ordering::Acquire);
        loop {
            let next = (v & 0xffff_ffff) as usize;
            if v >> 32 != generation & 0xffff_ffff || next >= parts {
                return None;
            }
            match self
                .claim
                .compare_exchange_weak(v, v + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(next),
                Err(now) => v = now,
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Spins until `ready()` or `limit()` elapses; returns whether it became ready.
fn spin_until_within(ready: impl Fn() -> bool, limit: impl Fn() -> Duration) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..16 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        // Lets a thread that shares this CPU run (returns at once when none does).
        std::thread::yield_now();
        if start.elapsed() >= limit() {
            return ready();
        }
    }
}

/// `threads - 1` workers plus the calling thread.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Serialises `run_rows` callers: a job occupies every worker.
    busy: Mutex<()>,
}

fn part(rows: usize, parts: usize, i: usize) -> (usize, usize) {
    (rows * i / parts, rows * (i + 1) / parts)
}

impl Pool {
    /// A pool running jobs on `threads` threads in total (the caller is one of them).
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                generation: 0,
                job: None,
                shutting_down: false,
                sleeping_workers: 0,
                caller_sleeping: false,
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            generation: AtomicU64::new(0),
            claim: AtomicU64::new(0),
            active: AtomicBool::new(false),
            finished: AtomicUsize::new(0),
        });
        let workers = (1..threads.max(1))
            .map(|w| {
                let s = shared.clone();
                std::thread::Builder::new()
                    .name(format!("bqmlc-worker-{w}"))
                    .spawn(move || worker(s))
                    .expect("spawn worker thread")
            })
            .collect();
        Pool {
            shared,
            workers,
            busy: Mutex::new(()),
        }
    }

    /// Marks a run (a burst of jobs) until the guard drops: meanwhile idle workers spin up
    /// to [`ACTIVE_SPIN`] for the next job instead of [`SPIN`].
    pub fn active(&self) -> ActiveRun<'_> {
        self.shared.active.store(true, Ordering::Relaxed);
        ActiveRun(self)
    }

    /// Total threads, the caller included.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `kernel(params, start, end)` over disjoint row ranges covering `[0, rows)`, one
    /// per thread (each range runs on whichever thread claims it), and returns when all are
    /// done.
    ///
    /// # Safety
    /// `kernel` must accept concurrent calls on `params` with disjoint row ranges.
    pub unsafe fn run_rows(&self, kernel: RowsKernel, params: *const u8, rows: usize) {
        let parts = self.threads().min(rows.max(1));
        if parts <= 1 {
            // SAFETY: forwarded caller contract.
            unsafe { kernel(params, 0, rows) };
            return;
        }
        let _guard = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let job = Job {
            kernel,
            params: params as usize,
            rows,
            parts,
        };
        let generation = {
            let mut st = self.shared.lock();
            st.generation += 1;
            st.job = Some(job);
            self.shared.finished.store(0, Ordering::Release);
            self.shared
                .claim
                .store((st.generation & 0xffff_ffff) << 32, Ordering::Release);
            self.shared
                .generation
                .store(st.generation, Ordering::Release);
            if st.sleeping_workers > 0 {
                self.shared.wake.notify_all();
            }
            st.generation
        };
        // SAFETY: forwarded caller contract; claimed parts are disjoint.
        let mine = unsafe { run_parts(&self.shared, generation, &job) };
        self.shared.finished.fetch_add(mine, Ordering::AcqRel);
        let done = || self.shared.finished.load(Ordering::Acquire) == parts;
        if !spin_until_within(done, || self.shared.spin_limit()) {
            let mut st = self.shared.lock();
            while !done() {
                st.caller_sleeping = true;
                st = self.shared.done.wait(st).unwrap_or_else(|e| e.into_inner());
                st.caller_sleeping = false;
            }
        }
        self.shared.lock().job = None;
    }
}

/// Runs parts of `job` (generation `generation`) while any is left; returns how many.
///
/// # Safety
/// As [`Pool::run_rows`].
unsafe fn run_parts(shared: &Shared, generation: u64, job: &Job) -> usize {
    let mut n = 0;
    while let Some(i) = shared.claim(generation, job.parts) {
        let (s, e) = part(job.rows, job.parts, i);
        // SAFETY: run_rows' caller guarantees disjoint ranges may run concurrently.
        unsafe { (job.kernel)(job.params as *const u8, s, e) };
        n += 1;
    }
    n
}

fn worker(shared: Arc<Shared>) {
    let mut seen = 0u64;
    loop {
        // A new job usually follows within microseconds while a model runs.
        spin_until_within(
            || shared.generation.load(Ordering::Acquire) != seen,
            || shared.spin_limit(),
        );
        let job = {
            let mut st = shared.lock();
            loop {
                if st.shutting_down {
                    return;
                }
                if st.generation != seen {
                    seen = st.generation;
                    if let Some(j) = st.job {
                        break j;
                    }
                }
                st.sleeping_workers += 1;
                st = shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                st.sleeping_workers -= 1;
            }
        };
        // SAFETY: run_rows' caller guarantees disjoint ranges may run concurrently; a part
        // is claimed only while its job is current.
        let did = unsafe { run_parts(&shared, seen, &job) };
        if did > 0 {
            let st = shared.lock();
            let finished = shared.finished.fetch_add(did, Ordering::AcqRel) + did;
            if finished == job.parts && st.caller_sleeping {
                shared.done.notify_all();
            }
        }
    }
}

/// A run in progress on a [`Pool`]; see [`Pool::active`].
pub struct ActiveRun<'a>(&'a Pool);

impl Drop for ActiveRun<'_> {
    fn drop(&mut self) {
        self.0.shared.active.store(false, Ordering::Relaxed);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.shutting_down = true;
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Entry point for generated code: `pool` is a `*const Pool` or null (single-threaded).
///
/// # Safety
/// `pool` is null or a live `Pool`; `kernel`/`params` satisfy [`Pool::run_rows`].
#[no_mangle]
pub unsafe extern "C" fn bqml_run_rows(
    pool: *const Pool,
    kernel: RowsKernel,
    params: *const u8,
    rows: usize,
) {
    if pool.is_null() {
        // SAFETY: forwarded caller contract.
        unsafe { kernel(params, 0, rows) }
    } else {
        // SAFETY: forwarded caller contract; `pool` is live.
        unsafe { (*pool).run_rows(kernel, params, rows) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    unsafe extern "C" fn mark(p: *const u8, s: usize, e: usize) {
        // SAFETY: the test passes a pointer to an array of AtomicUsize of length >= e.
        let a = unsafe { &*(p as *const [AtomicUsize; 37]) };
        for x in &a[s..e] {
            x.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn every_row_runs_exactly_once_across_many_jobs() {
        let pool = Pool::new(3);
        let cells: [AtomicUsize; 37] = std::array::from_fn(|_| AtomicUsize::new(0));
        for _ in 0..200 {
            // SAFETY: `mark` touches disjoint cells per range.
            unsafe { pool.run_rows(mark, &cells as *const _ as *const u8, 37) };
        }
        assert!(cells.iter().all(|c| c.load(Ordering::Relaxed) == 200));
        // Fewer rows than threads still covers each row once.
        let few: [AtomicUsize; 37] = std::array::from_fn(|_| AtomicUsize::new(0));
        // SAFETY: as above.
        unsafe { pool.run_rows(mark, &few as *const _ as *const u8, 1) };
        assert_eq!(few[0].load(Ordering::Relaxed), 1);
        assert_eq!(few[1].load(Ordering::Relaxed), 0);
    }

    /// Inside an active run, workers that spin longer still take every job once, and a
    /// job whose parts the caller claimed before a worker woke completes without it.
    #[test]
    fn active_runs_and_claimed_parts_cover_every_row_once() {
        let pool = Pool::new(4);
        let cells: [AtomicUsize; 37] = std::array::from_fn(|_| AtomicUsize::new(0));
        for i in 0..50 {
            let _run = (i % 2 == 0).then(|| pool.active());
            if i % 10 == 0 {
                std::thread::sleep(SPIN * 4);
            }
            // SAFETY: `mark` touches disjoint cells per range.
            unsafe { pool.run_rows(mark, &cells as *const _ as *const u8, 37) };
        }
        assert!(cells.iter().all(|c| c.load(Ordering::Relaxed) == 50));
    }

    /// Marks its rows after sleeping 1 ms when its range does not start at row 0 (a worker's
    /// part): the caller finishes first and outlasts its spin.
    unsafe extern "C" fn slow_workers(p: *const u8, s: usize, e: usize) {
        if s > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: as `mark`.
        unsafe { mark(p, s, e) }
    }

    /// Both blocking paths: workers asleep when a job arrives (pauses between jobs longer
    /// than the spin), and a caller asleep until slow workers finish.
    #[test]
    fn jobs_reach_sleeping_workers_and_wake_a_sleeping_caller() {
        let pool = Pool::new(3);
        let cells: [AtomicUsize; 37] = std::array::from_fn(|_| AtomicUsize::new(0));
        for i in 0..20 {
            std::thread::sleep(SPIN * 4);
            let kernel = if i % 2 == 0 { mark } else { slow_workers };
            // SAFETY: both kernels touch disjoint cells per range.
            unsafe { pool.run_rows(kernel, &cells as *const _ as *const u8, 37) };
            let want = i + 1;
            assert!(
                cells.iter().all(|c| c.load(Ordering::Relaxed) == want),
                "job {i}"
            );
        }
    }
}
