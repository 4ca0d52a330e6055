//! `bqmlc demo` (the README's main command) on the bundled data: every bundled photo gets
//! ONNX Runtime's top-1 (`../shared/data/images/reference_top5.tsv`) and its class name.

use std::process::Command;

#[test]
fn demo_classifies_the_bundled_photos_like_onnxruntime() {
    let out = Command::new(env!("CARGO_BIN_EXE_bqmlc"))
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shared = compiler::conformance::shared_dir();
    let reference = std::fs::read_to_string(shared.join("data/images/reference_top5.tsv")).unwrap();
    let classes = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/demo/imagenet_classes.csv"
    ))
    .unwrap();
    let bundled = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/images")).unwrap();
    let mut checked = 0;
    for f in bundled {
        let name = f.unwrap().file_name().to_string_lossy().to_string();
        let top1: usize = reference
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}\t")))
            .unwrap_or_else(|| panic!("{name} is not one of the shared photos"))
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let class_name = classes
            .lines()
            .nth(top1 + 1)
            .unwrap()
            .split_once(',')
            .unwrap()
            .1;
        let row = stdout
            .lines()
            .find(|l| l.contains(&format!("gs://bqml_images/{name} ")))
            .unwrap_or_else(|| panic!("no row for {name} in\n{stdout}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(
            cells[2..4],
            [top1.to_string().as_str(), class_name.trim_matches('"')],
            "{row}"
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}
