//! `bqmlc demo`: the BigQuery ML ONNX tutorial end to end on the bundled model and photos,
//! in a fresh temporary data directory and Cloud Storage root.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use sqlfront::format::OutputFormat;
use sqlfront::session::{Session, SessionConfig};

/// Arguments of `bqmlc demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Directory with the bundled data (model/, images/, imagenet_classes.csv)
    /// [default: demo/ in the source tree bqmlc was built from]
    #[arg(long, value_name = "DIR")]
    pub assets: Option<PathBuf>,
    /// Keep the data directory and Cloud Storage root in DIR instead of a temporary one
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Threads for decoding and prediction, at most 1024 [default: $BQMLC_THREADS, else
    /// all cores]
    #[arg(long, value_name = "N", value_parser = crate::cmd_sql::parse_threads)]
    pub threads: Option<u16>,
    #[command(flatten)]
    pub flags: crate::compile_flags::CompileFlags,
}

/// The tutorial's statements, with the bundled model and a join on the class names.
const STATEMENTS: &[&str] = &[
    "CREATE SCHEMA bqml_tutorial OPTIONS (description = 'BigQuery ML tutorial dataset.')",
    "CREATE OR REPLACE MODEL `bqml_tutorial.imported_onnx_model`
  OPTIONS (MODEL_TYPE = 'ONNX',
           MODEL_PATH = 'gs://bqml_models/efficientnet_lite0_tutorial.onnx')",
    "CREATE EXTERNAL TABLE `bqml_tutorial.image_table`
  WITH CONNECTION `us.bqml_tutorial`
  OPTIONS (object_metadata = 'SIMPLE', uris = ['gs://bqml_images/*'],
           max_staleness = INTERVAL 1 DAY, metadata_cache_mode = 'AUTOMATIC')",
    "CREATE EXTERNAL TABLE `bqml_tutorial.imagenet_classes`
  OPTIONS (format = 'CSV', uris = ['gs://bqml_models/imagenet_classes.csv'],
           skip_leading_rows = 1)",
    "SELECT p.uri, p.class_label, c.class_name
FROM ML.PREDICT(MODEL `bqml_tutorial.imported_onnx_model`,
  (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input
   FROM bqml_tutorial.image_table)) AS p
JOIN bqml_tutorial.imagenet_classes AS c ON p.class_label = c.class_label
ORDER BY p.uri",
];

const MODEL_FILE: &str = "model/efficientnet_lite0_tutorial.onnx";
const CLASSES_FILE: &str = "imagenet_classes.csv";

/// Runs the demo: lays out the bundled files as Cloud Storage buckets, then runs
/// [`STATEMENTS`], echoing each one before its result.
pub fn demo(
    args: &DemoArgs,
    engine: Arc<dyn sqlfront::sources::TableSources>,
) -> anyhow::Result<()> {
    let default_assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let a = args.assets.as_ref().unwrap_or(&default_assets);
    for f in [MODEL_FILE, CLASSES_FILE, "images"] {
        if !a.join(f).exists() {
            bail!(
                "demo data not found: {} is missing (pass --assets DIR, the repository's demo/ folder)",
                a.join(f).display()
            );
        }
    }
    let tmp;
    let root: &Path = match &args.keep {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d)?.next().is_some() {
                bail!("--keep {}: the directory is not empty", d.display());
            }
            d
        }
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path()
        }
    };
    let gcs = root.join("gcs");
    let models = gcs.join("bqml_models");
    let images = gcs.join("bqml_images");
    std::fs::create_dir_all(&models)?;
    std::fs::create_dir_all(&images)?;
    copy(
        &a.join(MODEL_FILE),
        &models.join("efficientnet_lite0_tutorial.onnx"),
    )?;
    copy(&a.join(CLASSES_FILE), &models.join(CLASSES_FILE))?;
    let mut photos = 0;
    for e in std::fs::read_dir(a.join("images"))? {
        let p = e?.path();
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ["jpg", "jpeg", "png", "bmp"].contains(&ext.to_ascii_lowercase().as_str()) {
            copy(&p, &images.join(p.file_name().unwrap_or_default()))?;
            photos += 1;
        }
    }
    eprintln!(
        "-- bqmlc demo: {photos} photos in gs://bqml_images, data directory {}",
        root.join("data").display()
    );
    let cfg = SessionConfig::from_args(Some(root.join("data")), Some(gcs));
    let session = Session::open(cfg)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_sources(engine)
        .with_compile_options(args.flags.options()?);
    for sql in STATEMENTS {
        println!("\n{sql};");
        let start = std::time::Instant::now();
        crate::cmd_sql::query(
            &session,
            sql,
            OutputFormat::Table,
            sqlfront::format::TableLimits::for_stdout(),
        )?;
        eprintln!("-- {:.2} s", start.elapsed().as_secs_f64());
    }
    if args.keep.is_some() {
        eprintln!("-- kept in {}", root.display());
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}
