//! Row progress of `ML.PREDICT` (a bar on a terminal's stderr) and cancellation of the
//! running statement (Ctrl-C in the REPL).
//!
//! Both are process-wide: workers count finished rows in [`row_done`] and call
//! [`check_cancelled`] before each row, so neither needs a handle threaded through
//! DataFusion's plans. A bar only reads the counter, so concurrent statements at worst show each
//! other's rows.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{ErrorKind, Result, SqlError};

/// Rows finished by `ML.PREDICT` in this process.
static ROWS_DONE: AtomicUsize = AtomicUsize::new(0);

/// A request to stop the running statement.
pub struct CancelFlag(AtomicBool);

impl CancelFlag {
    /// A flag with no request.
    pub const fn new() -> CancelFlag {
        CancelFlag(AtomicBool::new(false))
    }

    /// Asks to stop (one atomic store: async-signal-safe).
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Clears the request.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// Whether a stop was asked for since the last reset.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// An error when a stop was asked for since the last reset.
    pub fn check(&self) -> Result<()> {
        if self.0.load(Ordering::SeqCst) {
            Err(SqlError::new(ErrorKind::Cancelled, CANCELLED))
        } else {
            Ok(())
        }
    }
}

impl Default for CancelFlag {
    fn default() -> CancelFlag {
        CancelFlag::new()
    }
}

/// The process's flag, set by the REPL's SIGINT handler.
static CANCEL: CancelFlag = CancelFlag::new();

/// Counts one finished row.
pub fn row_done() {
    ROWS_DONE.fetch_add(1, Ordering::Relaxed);
}

/// Asks the running statement to stop at its next row. Async-signal-safe (one atomic
/// store), so a signal handler may call it.
pub fn cancel() {
    CANCEL.set();
}

/// Clears a cancellation request; called before each statement.
pub fn reset_cancel() {
    CANCEL.reset();
}

/// The message of a cancelled statement.
pub const CANCELLED: &str = "Statement cancelled (Ctrl-C); nothing was written";

/// Whether cancellation was asked for since the last [`reset_cancel`].
pub fn cancel_requested() -> bool {
    CANCEL.is_set()
}

/// An error when cancellation was asked for: row loops call it before each row.
pub fn check_cancelled() -> Result<()> {
    CANCEL.check()
}

/// Rows per second after `done` rows in `elapsed`; `None` before the first row.
pub fn rate(done: usize, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (done > 0 && secs > 0.0).then(|| done as f64 / secs)
}

/// Time left for `total - done` rows at the average rate so far; `None` before the
/// first row.
pub fn eta(done: usize, total: usize, elapsed: Duration) -> Option<Duration> {
    let r = rate(done, elapsed)?;
    Some(Duration::from_secs_f64(
        total.saturating_sub(done) as f64 / r,
    ))
}

/// `d` as `42 s`, `3 min 05 s` or `2 h 07 min`.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s / 60 % 60),
    }
}

/// The bar's text after `done` of `total` rows (when known) in `elapsed`.
pub fn line(done: usize, total: Option<usize>, elapsed: Duration) -> String {
    const WIDTH: usize = 30;
    let Some(total) = total else {
        let rate =
            rate(done, elapsed).map_or("-- rows/s".to_string(), |r| format!("{r:.1} rows/s"));
        return format!("ML.PREDICT [{done} rows] {rate}, eta ?");
    };
    let done = done.min(total);
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let rate = rate(done, elapsed).map_or("-- rows/s".to_string(), |r| format!("{r:.1} rows/s"));
    let eta = eta(done, total, elapsed).map_or("?".to_string(), fmt_duration);
    format!(
        "ML.PREDICT [{}{}] {done}/{total} rows, {rate}, eta {eta}",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled)
    )
}

/// A progress bar for `total` rows (`None`: not known in advance), drawn on stderr (a terminal only) by its own thread
/// from half a second on, ten times a second; cleared when dropped.
pub struct Bar {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bar {
    /// Delay before the first draw, so that quick statements show no bar.
    const DELAY: Duration = Duration::from_millis(500);
    /// Time between draws.
    const TICK: Duration = Duration::from_millis(100);

    /// Starts a bar for `total` rows counted from now.
    pub fn start(total: Option<usize>) -> Bar {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::io::stderr().is_terminal().then(|| {
            let stop = Arc::clone(&stop);
            let base = ROWS_DONE.load(Ordering::Relaxed);
            let start = Instant::now();
            std::thread::spawn(move || {
                let mut drawn = false;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::park_timeout(Self::TICK);
                    if stop.load(Ordering::Relaxed) || start.elapsed() < Self::DELAY {
                        continue;
                    }
                    let done = ROWS_DONE.load(Ordering::Relaxed).wrapping_sub(base);
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r{}\x1b[K", line(done, total, start.elapsed()));
                    let _ = err.flush();
                    drawn = true;
                }
                if drawn {
                    let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
                }
            })
        });
        Bar { stop, thread }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_eta_are_averages_since_the_start() {
        let s = Duration::from_secs;
        assert_eq!(rate(0, s(3)), None);
        assert_eq!(rate(5, Duration::ZERO), None);
        assert_eq!(rate(100, s(4)), Some(25.0));
        assert_eq!(eta(100, 1000, s(4)), Some(s(36)));
        assert_eq!(eta(1000, 1000, s(4)), Some(Duration::ZERO));
        assert_eq!(eta(0, 1000, s(4)), None);
        assert_eq!(fmt_duration(s(36)), "36 s");
        assert_eq!(fmt_duration(s(185)), "3 min 05 s");
        assert_eq!(fmt_duration(s(7620)), "2 h 07 min");
        assert_eq!(
            line(100, Some(1000), s(4)),
            "ML.PREDICT [###---------------------------] 100/1000 rows, 25.0 rows/s, eta 36 s"
        );
        assert_eq!(
            line(0, Some(64), Duration::from_millis(600)),
            "ML.PREDICT [------------------------------] 0/64 rows, -- rows/s, eta ?"
        );
        assert_eq!(
            line(3, Some(3), s(1)),
            "ML.PREDICT [##############################] 3/3 rows, 3.0 rows/s, eta 0 s"
        );
        assert_eq!(
            line(10, None, s(4)),
            "ML.PREDICT [10 rows] 2.5 rows/s, eta ?"
        );
    }

    #[test]
    fn cancellation_is_reported_until_reset() {
        let flag = CancelFlag::new();
        assert!(flag.check().is_ok());
        flag.set();
        let e = flag.check().unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Cancelled, CANCELLED)
        );
        assert!(flag.check().is_err(), "a request stays until reset");
        flag.reset();
        assert!(flag.check().is_ok());
    }
}
