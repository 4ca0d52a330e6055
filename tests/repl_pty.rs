//! The interactive REPL on a pseudo-terminal: tab completion, and Ctrl-C cancelling a
//! long `ML.PREDICT` or CREATE MODEL while the session goes on.

use crate::common;

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A bucket `imgs` with `copies` hard links to one photo, the tutorial model `ds.m` and
/// the object table `ds.photos` over the bucket, made with `bqmlc query`.
struct Env {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    gcs: PathBuf,
}

fn env(copies: usize) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let gcs = tmp.path().join("gcs");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(gcs.join("imgs")).unwrap();
    std::fs::create_dir_all(gcs.join("models")).unwrap();
    let shared = compiler::conformance::shared_dir();
    let photo = gcs.join("photo.jpg");
    std::fs::copy(shared.join("data/images/goldfish.jpg"), &photo).unwrap();
    for i in 0..copies {
        std::fs::hard_link(&photo, gcs.join(format!("imgs/{i:05}.jpg"))).unwrap();
    }
    std::fs::copy(
        shared.join("models/resnet18_tutorial.onnx"),
        gcs.join("models/m.onnx"),
    )
    .unwrap();
    let e = Env {
        _tmp: tmp,
        data,
        gcs,
    };
    let out = Command::new(env!("CARGO_BIN_EXE_bqmlc"))
        .args(["query", "CREATE SCHEMA ds; CREATE MODEL ds.m OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = 'gs://models/m.onnx'); CREATE EXTERNAL TABLE ds.photos WITH CONNECTION DEFAULT OPTIONS (object_metadata = 'SIMPLE', uris = ['gs://imgs/*'])"])
        .env("BQMLC_DATA_DIR", &e.data)
        .env("BQMLC_GCS_ROOT", &e.gcs)
        .env_remove("BQMLC_CONV_ALGO")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    e
}

/// `bqmlc repl` on a pseudo-terminal that is its controlling terminal, so that Ctrl-C
/// (byte 3) becomes SIGINT as on a real one.
struct Pty {
    master: std::fs::File,
    child: Child,
    seen: Arc<Mutex<Vec<u8>>>,
    /// How much of `seen` the last `expect` consumed.
    cursor: usize,
}

impl Pty {
    fn repl(e: &Env) -> Pty {
        let (mut master, mut slave) = (0, 0);
        let ws = libc::winsize {
            ws_row: 50,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: the out-pointers point to live locals; a null name and termios are
        // allowed; `ws` outlives the call.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty returned two fresh descriptors that nothing else owns.
        let (master, slave) = unsafe {
            (
                std::fs::File::from_raw_fd(master),
                OwnedFd::from_raw_fd(slave),
            )
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bqmlc"));
        cmd.args(["repl", "--threads", "1"])
            .env("BQMLC_DATA_DIR", &e.data)
            .env("BQMLC_GCS_ROOT", &e.gcs)
            .env("TERM", "xterm")
            .env_remove("BQMLC_CONV_ALGO")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: between fork and exec the closure calls only async-signal-safe
        // functions (setsid, ioctl) and allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        // The parent's copies of the terminal's side close with `cmd`.
        drop(cmd);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Reading fails (EIO) once the child has closed the terminal.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            master,
            child,
            seen,
            cursor: 0,
        }
    }

    fn send(&mut self, s: &str) {
        self.master.write_all(s.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits until `needle` appears after what earlier calls consumed; returns how long
    /// that took.
    fn expect(&mut self, needle: &str, timeout: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let text = String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned();
            let rest = text.get(self.cursor..).unwrap_or("");
            if let Some(i) = rest.find(needle) {
                self.cursor += i + needle.len();
                return start.elapsed();
            }
            if start.elapsed() > timeout {
                let status = self.child.try_wait().unwrap();
                panic!("no {needle:?} within {timeout:?} (process: {status:?}); output so far:\n{rest}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Leaves with `.quit`; the REPL must exit cleanly.
    fn quit(mut self) {
        self.send(".quit\r");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}");
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the REPL did not quit"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn catalog(e: &Env) -> Vec<u8> {
    std::fs::read(Path::new(&e.data).join("catalog.json")).unwrap()
}

#[test]
fn ctrl_c_cancels_a_long_predict_and_the_session_goes_on() {
    // One thread at tens of ms per photo: minutes of work unless cancelled.
    let e = env(3000);
    let before = catalog(&e);
    let mut p = Pty::repl(&e);
    p.expect("Enter .help for usage hints.", Duration::from_secs(30));
    p.expect("bqmlc> ", Duration::from_secs(10));
    p.send(
        "SELECT uri, class_label FROM ML.PREDICT(MODEL ds.m, (SELECT uri, \
         ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input FROM ds.photos));\r",
    );
    // The bar shows rows as they finish, with a rate and a time left.
    p.expect("ML.PREDICT [", Duration::from_secs(60));
    p.expect(" rows/s, eta ", Duration::from_secs(10));
    p.send("\x03");
    let took = p.expect(
        "Error: Statement cancelled (Ctrl-C); nothing was written",
        Duration::from_secs(10),
    );
    assert!(took < Duration::from_secs(2), "cancelling took {took:?}");
    p.expect("bqmlc> ", Duration::from_secs(5));
    p.send("SELECT 41 + 1 AS answer;\r");
    p.expect("| answer |", Duration::from_secs(10));
    p.expect("|     42 |", Duration::from_secs(10));
    p.quit();
    assert_eq!(catalog(&e), before, "the catalog is untouched");
}

/// A model that takes seconds to compile: a chain of `n` Relu nodes.
fn relu_chain(n: usize) -> Vec<u8> {
    let nodes = common::chain(n, "Relu", &[]);
    common::model(
        nodes,
        vec![],
        vec![common::vi("x", &[1, 4])],
        vec![common::vi("y", &[1, 4])],
        13,
    )
}

#[test]
fn ctrl_c_cancels_create_model_while_it_compiles() {
    let e = env(0);
    std::fs::write(e.gcs.join("models/chain.onnx"), relu_chain(100_000)).unwrap();
    let before = catalog(&e);
    let mut p = Pty::repl(&e);
    p.expect("bqmlc> ", Duration::from_secs(30));
    p.send(
        "CREATE MODEL ds.chain OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = 'gs://models/chain.onnx');\r",
    );
    std::thread::sleep(Duration::from_millis(800));
    p.send("\x03");
    let took = p.expect(
        "Error: Statement cancelled (Ctrl-C); nothing was written",
        Duration::from_secs(30),
    );
    assert!(took < Duration::from_secs(1), "cancelling took {took:?}");
    p.expect("bqmlc> ", Duration::from_secs(5));
    p.send("SELECT 41 + 1 AS answer;\r");
    p.expect("|     42 |", Duration::from_secs(10));
    p.quit();
    assert_eq!(catalog(&e), before, "the catalog is untouched");
}

#[test]
fn tab_completes_keywords_names_and_dot_commands() {
    let e = env(2);
    let mut p = Pty::repl(&e);
    p.expect("bqmlc> ", Duration::from_secs(30));
    // Each word is typed in part; only completion makes the statement valid.
    p.send("SEL\t COUNT(*) AS n FR\t ds.p\t");
    p.send(";\r");
    p.expect("| n |", Duration::from_secs(30));
    p.expect("| 2 |", Duration::from_secs(5));
    p.send(".he\t\r");
    p.expect(".maxwidth [N]", Duration::from_secs(5));
    p.quit();
}
