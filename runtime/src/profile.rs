//! Step timestamps for `bench --profile`: a profiling build of a model calls
//! [`bqml_prof_mark`] before every step and at the end.

use std::cell::RefCell;
use std::time::Instant;

thread_local! {
    static MARKS: RefCell<Vec<(u32, Instant)>> = const { RefCell::new(Vec::new()) };
}

/// Records that step `i` starts now (called by generated code on the calling thread).
#[no_mangle]
pub extern "C" fn bqml_prof_mark(i: u32) {
    MARKS.with(|m| m.borrow_mut().push((i, Instant::now())));
}

/// Takes the marks recorded on this thread since the last call.
pub fn take_marks() -> Vec<(u32, Instant)> {
    MARKS.with(|m| std::mem::take(&mut *m.borrow_mut()))
}

/// Seconds spent in each of `steps` steps, from one run's marks (mark `i` starts step `i`,
/// mark `steps` ends the run).
pub fn step_times(marks: &[(u32, Instant)], steps: usize) -> Vec<f64> {
    let mut t = vec![0.0; steps];
    for w in marks.windows(2) {
        let (i, a) = w[0];
        let (_, b) = w[1];
        if (i as usize) < steps {
            t[i as usize] += (b - a).as_secs_f64();
        }
    }
    t
}
