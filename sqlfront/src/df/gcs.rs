//! [`RemoteStorage`] on `object_store`'s Google Cloud Storage client: real Cloud
//! Storage with Google credentials from the environment, or an emulator at an endpoint
//! (`--gcs-endpoint`, `$STORAGE_EMULATOR_HOST`), reached unauthenticated as Google's
//! client libraries do.
//!
//! The client is asynchronous; it runs on a small runtime of its own, so the blocking
//! [`RemoteStorage`] calls work from any thread — DataFusion's runtime, rayon's workers
//! or the session's caller — without nesting runtimes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder};
use object_store::path::Path as StorePath;
use object_store::{
    ClientOptions, GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig,
};

use crate::error::{ErrorKind, Result, SqlError};
use crate::storage::{md5_from_etag, RemoteObject, RemoteStorage};

/// Metadata requests in flight at once when a listing asks for generations.
const CONCURRENT_REQUESTS: usize = 32;

/// How the session reaches Cloud Storage.
#[derive(Clone, Debug, PartialEq)]
pub enum GcsEndpoint {
    /// An emulator (or any JSON/XML-API-compatible server) at this base URL, no
    /// credentials.
    Emulator(String),
    /// Google Cloud Storage, credentials from the environment.
    Google,
}

/// Google Cloud Storage (or an emulator) through `object_store`.
pub struct GcsStorage {
    endpoint: GcsEndpoint,
    /// One client per bucket (an `object_store` store is bound to its bucket).
    buckets: Mutex<HashMap<String, Arc<GoogleCloudStorage>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for GcsStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsStorage")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Drop for GcsStorage {
    fn drop(&mut self) {
        // A runtime may not be dropped (waiting for its tasks) inside another one.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl GcsStorage {
    /// A client for `endpoint`. A bare `host:port` endpoint means `http://host:port`, as
    /// `$STORAGE_EMULATOR_HOST` is read by Google's client libraries.
    pub fn new(endpoint: GcsEndpoint) -> Result<GcsStorage> {
        let endpoint = match endpoint {
            GcsEndpoint::Emulator(url) if !url.contains("://") => {
                GcsEndpoint::Emulator(format!("http://{url}"))
            }
            GcsEndpoint::Emulator(url) => {
                GcsEndpoint::Emulator(url.trim_end_matches('/').to_string())
            }
            google => google,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bqmlc-gcs")
            .enable_all()
            .build()
            .map_err(|e| SqlError::io("the Cloud Storage client's runtime", e))?;
        Ok(GcsStorage {
            endpoint,
            buckets: Mutex::new(HashMap::new()),
            runtime: Some(runtime),
        })
    }

    /// The client of `bucket`, made on first use.
    fn bucket(&self, bucket: &str) -> Result<Arc<GoogleCloudStorage>> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = buckets.get(bucket) {
            return Ok(Arc::clone(b));
        }
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            ..RetryConfig::default()
        };
        let builder = match &self.endpoint {
            GcsEndpoint::Emulator(url) => GoogleCloudStorageBuilder::new()
                .with_base_url(url)
                .with_skip_signature(true)
                .with_client_options(ClientOptions::new().with_allow_http(true)),
            GcsEndpoint::Google => GoogleCloudStorageBuilder::from_env(),
        };
        let store = builder
            .with_bucket_name(bucket)
            .with_retry(retry)
            .build()
            .map_err(|e| {
                SqlError::new(
                    ErrorKind::InvalidQuery,
                    format!("Cannot reach Cloud Storage bucket gs://{bucket}: {e}"),
                )
            })?;
        let store = Arc::new(store);
        buckets.insert(bucket.to_string(), Arc::clone(&store));
        Ok(store)
    }

    /// Runs `fut` on the client's runtime and waits for it.
    fn block_on<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let rt = self.runtime.as_ref().expect("the runtime lives until drop");
        futures::executor::block_on(rt.spawn(fut)).map_err(|e| {
            SqlError::new(
                ErrorKind::Io,
                format!("a Cloud Storage request failed: {e}"),
            )
        })?
    }
}

/// `object`'s path in the store, or an error naming the uri.
fn store_path(bucket: &str, object: &str) -> Result<StorePath> {
    StorePath::parse(object).map_err(|e| {
        SqlError::new(
            ErrorKind::InvalidQuery,
            format!("Invalid Cloud Storage object name gs://{bucket}/{object}: {e}"),
        )
    })
}

fn store_error(bucket: &str, object: &str, e: object_store::Error) -> SqlError {
    let kind = match e {
        object_store::Error::NotFound { .. } => ErrorKind::NotFound,
        _ => ErrorKind::Io,
    };
    let e = e.to_string();
    SqlError::new(
        kind,
        format!("Cloud Storage error for gs://{bucket}/{object}: {e}"),
    )
}

fn remote_object(meta: ObjectMeta) -> RemoteObject {
    RemoteObject {
        name: meta.location.to_string(),
        size: meta.size,
        updated_us: meta.last_modified.timestamp_micros(),
        md5_base64: meta.e_tag.as_deref().and_then(md5_from_etag),
        generation: meta.version.as_deref().and_then(|v| v.parse().ok()),
    }
}

async fn head(
    store: Arc<GoogleCloudStorage>,
    bucket: String,
    name: String,
) -> Result<Option<RemoteObject>> {
    let path = store_path(&bucket, &name)?;
    match store.head(&path).await {
        Ok(meta) => Ok(Some(remote_object(meta))),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(store_error(&bucket, &name, e)),
    }
}

impl RemoteStorage for GcsStorage {
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<RemoteObject>> {
        let store = self.bucket(bucket)?;
        // The store lists whole "directories"; the rest of the prefix is a filter.
        let dir = prefix.rfind('/').map(|i| &prefix[..i]);
        let dir = dir.map(|d| store_path(bucket, d)).transpose()?;
        let (bucket, prefix) = (bucket.to_string(), prefix.to_string());
        self.block_on(async move {
            let listed: Vec<ObjectMeta> = store
                .list(dir.as_ref())
                .try_collect()
                .await
                .map_err(|e| store_error(&bucket, &prefix, e))?;
            let mut found: Vec<RemoteObject> = listed
                .into_iter()
                .map(remote_object)
                .filter(|o| o.name.starts_with(&prefix))
                .collect();
            found.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(found)
        })
    }

    fn head(&self, bucket: &str, name: &str) -> Result<Option<RemoteObject>> {
        let store = self.bucket(bucket)?;
        self.block_on(head(store, bucket.to_string(), name.to_string()))
    }

    fn head_many(&self, bucket: &str, names: &[String]) -> Result<Vec<Option<RemoteObject>>> {
        let store = self.bucket(bucket)?;
        let (bucket, names) = (bucket.to_string(), names.to_vec());
        self.block_on(async move {
            futures::stream::iter(names)
                .map(|n| head(Arc::clone(&store), bucket.clone(), n))
                .buffered(CONCURRENT_REQUESTS)
                .try_collect()
                .await
        })
    }

    fn read(&self, bucket: &str, name: &str, limit: u64) -> Result<Vec<u8>> {
        let store = self.bucket(bucket)?;
        let path = store_path(bucket, name)?;
        let (bucket, name) = (bucket.to_string(), name.to_string());
        self.block_on(async move {
            // The size comes with the response's headers, before its body is read.
            let got = store
                .get_opts(&path, GetOptions::default())
                .await
                .map_err(|e| store_error(&bucket, &name, e))?;
            let size = got.meta.size;
            if size > limit {
                return Err(SqlError::new(
                    ErrorKind::InvalidQuery,
                    format!(
                        "gs://{bucket}/{name} is {size} bytes, over the limit of {limit} bytes"
                    ),
                ));
            }
            let bytes = got
                .bytes()
                .await
                .map_err(|e| store_error(&bucket, &name, e))?;
            Ok(bytes.to_vec())
        })
    }

    fn write(&self, bucket: &str, name: &str, content: Vec<u8>) -> Result<()> {
        let store = self.bucket(bucket)?;
        let path = store_path(bucket, name)?;
        let (bucket, name) = (bucket.to_string(), name.to_string());
        self.block_on(async move {
            store
                .put(&path, content.into())
                .await
                .map_err(|e| store_error(&bucket, &name, e))?;
            Ok(())
        })
    }

    fn delete(&self, bucket: &str, name: &str) -> Result<()> {
        let store = self.bucket(bucket)?;
        let path = store_path(bucket, name)?;
        let (bucket, name) = (bucket.to_string(), name.to_string());
        self.block_on(async move {
            store
                .delete(&path)
                .await
                .map_err(|e| store_error(&bucket, &name, e))
        })
    }
}
