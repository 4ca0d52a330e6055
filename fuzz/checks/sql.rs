//! The SQL tokenizer, parser and printer, and the planning and running of queries against
//! an empty catalog (no CREATE/DROP is executed; in the fuzz build, which has no
//! DataFusion, queries stop at "no query engine"). Oracles: every syntax error carries a
//! position inside the text, and so does every query error that has one; whatever parses
//! prints back to text that parses to an equal tree.
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
                gcs_endpoint: None,
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
                    if let Err(e) = session().query(q) {
                        if e.span.is_some() {
                            check_position(sql, &e);
                        }
                    }
                }
            }
        }
        Err(e) => {
            assert!(e.span.is_some(), "no position for {sql:?}: {e}");
            check_position(sql, &e);
        }
    }
}

/// The error's position is inside `sql`, on a character boundary, and rendered.
fn check_position(sql: &str, e: &sqlfront::SqlError) {
    let Some(span) = e.span else { return };
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
