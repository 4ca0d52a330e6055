//! The SQL tokenizer, parser and printer, and the binding and evaluation of queries against
//! an empty catalog (no CREATE/DROP is executed). Oracles: every error carries a position
//! inside the text; whatever parses prints back to text that parses to an equal tree.
//!
//! Shared by the fuzz target and `tests/fuzz_regressions.rs`.

use std::sync::OnceLock;

use sqlfront::ast::Statement;
use sqlfront::{parse_sql, parse_statement, Session, SessionConfig};

fn session() -> &'static Session {
    static SESSION: OnceLock<(tempfile::TempDir, Session)> = OnceLock::new();
    &SESSION
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let cfg = SessionConfig {
                data_dir: dir.path().join("data"),
                gcs_root: Some(dir.path().join("gcs")),
            };
            let session = Session::open(cfg).expect("empty session");
            (dir, session)
        })
        .1
}

/// Runs the target on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    match parse_sql(sql) {
        Ok(stmts) => {
            for s in stmts {
                let printed = s.to_string();
                let again = parse_statement(&printed)
                    .unwrap_or_else(|e| panic!("{sql:?} printed as {printed:?}: {e}"));
                assert_eq!(again, s, "{sql:?} printed as {printed:?}");
                if let Statement::Query(q) = &s {
                    let _ = session().query(q);
                }
            }
        }
        Err(e) => {
            let span = e
                .span
                .unwrap_or_else(|| panic!("no position for {sql:?}: {e}"));
            assert!(span.line >= 1 && span.col >= 1, "{sql:?}: {e}");
            assert!(
                (span.offset + span.len) as usize <= sql.len(),
                "{sql:?}: {e}"
            );
            assert!(sql.is_char_boundary(span.offset as usize), "{sql:?}: {e}");
            let rendered = e.render(sql);
            assert!(
                rendered.contains(&format!("at [{}:{}]", span.line, span.col)),
                "{rendered}"
            );
        }
    }
}
