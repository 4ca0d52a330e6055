//! Cloud Storage reached over the network — a real bucket or an emulator — as opposed to
//! the local stand-in under `--gcs-root` ([`crate::sources::GcsRoot`]).
//!
//! [`RemoteStorage`] is what the rest of the crate needs of a store; `df::gcs` implements
//! it on `object_store`'s Google Cloud Storage client. Which one serves `gs://` is decided
//! once per session ([`crate::SessionConfig`]): `--gcs-root` (a local directory) wins,
//! then `--gcs-endpoint` / `$STORAGE_EMULATOR_HOST` (an emulator, unauthenticated), then
//! Google credentials from the environment (`$GOOGLE_APPLICATION_CREDENTIALS`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{ErrorKind, Result, SqlError};

/// One object's metadata, as a listing or a metadata request returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteObject {
    /// The object's name inside its bucket.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Last update, microseconds since the epoch.
    pub updated_us: i64,
    /// Base64 MD5 of the content, when the store's ETag is one (composite objects have
    /// none; their `md5_hash` is computed from the content when a query reads it).
    pub md5_base64: Option<String>,
    /// The object's generation, when the request returned it (listings do not).
    pub generation: Option<i64>,
}

/// A Cloud Storage service. Every call blocks until the store answers; errors name the
/// `gs://` uri.
pub trait RemoteStorage: Send + Sync + std::fmt::Debug {
    /// The objects of `bucket` whose names start with `prefix`, sorted by name.
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<RemoteObject>>;
    /// One object's metadata, with its generation; `None` when it does not exist.
    fn head(&self, bucket: &str, name: &str) -> Result<Option<RemoteObject>>;
    /// [`RemoteStorage::head`] of several objects (a store may ask for them at once).
    fn head_many(&self, bucket: &str, names: &[String]) -> Result<Vec<Option<RemoteObject>>> {
        names.iter().map(|n| self.head(bucket, n)).collect()
    }
    /// An object's content; refused (before reading) when it is over `limit` bytes.
    fn read(&self, bucket: &str, name: &str, limit: u64) -> Result<Vec<u8>>;
    /// Creates or replaces an object.
    fn write(&self, bucket: &str, name: &str, content: Vec<u8>) -> Result<()>;
    /// Deletes an object.
    fn delete(&self, bucket: &str, name: &str) -> Result<()>;
}

/// Where an object table's object is read from when a query uses its `data`.
#[derive(Clone, Debug)]
pub enum ObjectSource {
    /// A local file (plain paths, `file://`, `gs://` under `--gcs-root`).
    Local(PathBuf),
    /// An object of a [`RemoteStorage`].
    Remote {
        /// The store.
        store: Arc<dyn RemoteStorage>,
        /// Bucket name.
        bucket: String,
        /// Object name.
        name: String,
    },
}

impl ObjectSource {
    /// The content, at most `limit` bytes (larger objects are an error).
    pub fn read(&self, limit: u64) -> std::result::Result<Vec<u8>, String> {
        match self {
            ObjectSource::Local(path) => {
                runtime::limits::read_file(path, limit).map_err(|e| e.to_string())
            }
            ObjectSource::Remote {
                store,
                bucket,
                name,
            } => store.read(bucket, name, limit).map_err(|e| e.message),
        }
    }
}

impl PartialEq for ObjectSource {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ObjectSource::Local(a), ObjectSource::Local(b)) => a == b,
            (
                ObjectSource::Remote {
                    store: s1,
                    bucket: b1,
                    name: n1,
                },
                ObjectSource::Remote {
                    store: s2,
                    bucket: b2,
                    name: n2,
                },
            ) => Arc::ptr_eq(s1, s2) && b1 == b2 && n1 == n2,
            _ => false,
        }
    }
}

/// Splits `gs://BUCKET/OBJECT` into its bucket and object name (which may hold a `*`),
/// refusing an empty or wildcard bucket, an empty object name and `..` segments.
pub fn split_gs_uri(uri: &str) -> Result<(&str, &str)> {
    let rest = uri.strip_prefix("gs://").unwrap_or(uri);
    let (bucket, object) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty()
        || bucket.contains('*')
        || object.is_empty()
        || rest.split('/').any(|p| p == "..")
    {
        return Err(SqlError::new(
            ErrorKind::InvalidQuery,
            format!("Invalid Cloud Storage URI: {uri}; expected gs://BUCKET/OBJECT"),
        ));
    }
    Ok((bucket, object))
}

/// The objects matching `gs://bucket/pattern` (one `*` at most, matching any characters,
/// `/` included; none: the object itself), sorted by name.
pub fn list_matching(
    store: &dyn RemoteStorage,
    bucket: &str,
    pattern: &str,
) -> Result<Vec<RemoteObject>> {
    match pattern.split_once('*') {
        None => Ok(store.head(bucket, pattern)?.into_iter().collect()),
        Some((pre, post)) => {
            let mut found = store.list(bucket, pre)?;
            found.retain(|o| o.name.len() >= pre.len() + post.len() && o.name.ends_with(post));
            Ok(found)
        }
    }
}

/// The error for a `gs://` uri when no store serves Cloud Storage.
pub fn no_cloud_storage(uri: &str) -> SqlError {
    SqlError::new(
        ErrorKind::InvalidQuery,
        format!(
            "Cannot read {uri}: gs:// paths need a local root (--gcs-root or BQMLC_GCS_ROOT), \
             a Cloud Storage endpoint (--gcs-endpoint or STORAGE_EMULATOR_HOST), or Google \
             credentials (GOOGLE_APPLICATION_CREDENTIALS)"
        ),
    )
}

/// MD5 from an ETag: GCS's XML API gives the hex digest in quotes, emulators its
/// base64; anything else (a composite object's ETag) is not an MD5.
pub fn md5_from_etag(etag: &str) -> Option<String> {
    let t = etag.trim_matches('"');
    if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap_or(0))
            .collect();
        return Some(crate::value::base64(&bytes));
    }
    let base64_digest = t.len() == 24
        && t.ends_with("==")
        && t[..22]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    base64_digest.then(|| t.to_string())
}

/// Objects by (bucket, name): content and metadata.
type MemoryObjects = std::collections::BTreeMap<(String, String), (Vec<u8>, RemoteObject)>;

/// A [`RemoteStorage`] held in memory (for tests and for embedding without a network):
/// buckets exist once they hold an object; generations count writes.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    objects: std::sync::Mutex<MemoryObjects>,
}

impl MemoryStorage {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryObjects> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RemoteStorage for MemoryStorage {
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<RemoteObject>> {
        let objects = self.lock();
        if !objects.keys().any(|(b, _)| b == bucket) {
            return Err(SqlError::new(
                ErrorKind::NotFound,
                format!("Not found: bucket gs://{bucket}"),
            ));
        }
        Ok(objects
            .iter()
            .filter(|((b, n), _)| b == bucket && n.starts_with(prefix))
            .map(|(_, (_, meta))| RemoteObject {
                generation: None,
                ..meta.clone()
            })
            .collect())
    }

    fn head(&self, bucket: &str, name: &str) -> Result<Option<RemoteObject>> {
        let key = (bucket.to_string(), name.to_string());
        Ok(self.lock().get(&key).map(|(_, meta)| meta.clone()))
    }

    fn read(&self, bucket: &str, name: &str, limit: u64) -> Result<Vec<u8>> {
        let key = (bucket.to_string(), name.to_string());
        match self.lock().get(&key) {
            Some((content, _)) if content.len() as u64 > limit => Err(SqlError::new(
                ErrorKind::InvalidQuery,
                format!("gs://{bucket}/{name} is over the limit of {limit} bytes"),
            )),
            Some((content, _)) => Ok(content.clone()),
            None => Err(SqlError::new(
                ErrorKind::NotFound,
                format!("Not found: gs://{bucket}/{name}"),
            )),
        }
    }

    fn write(&self, bucket: &str, name: &str, content: Vec<u8>) -> Result<()> {
        use md5::Digest;
        let mut objects = self.lock();
        let generation = objects.len() as i64 + 1;
        let meta = RemoteObject {
            name: name.to_string(),
            size: content.len() as u64,
            updated_us: generation * 1_000_000,
            md5_base64: Some(crate::value::base64(&md5::Md5::digest(&content))),
            generation: Some(generation),
        };
        objects.insert((bucket.to_string(), name.to_string()), (content, meta));
        Ok(())
    }

    fn delete(&self, bucket: &str, name: &str) -> Result<()> {
        let key = (bucket.to_string(), name.to_string());
        match self.lock().remove(&key) {
            Some(_) => Ok(()),
            None => Err(SqlError::new(
                ErrorKind::NotFound,
                format!("Not found: gs://{bucket}/{name}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_that_are_md5_digests_become_base64() {
        // md5("hello\n") = b1946ac92492d2347c6235b4d2611184 = sZRqySSS0jR8YjW00mERhA==
        assert_eq!(
            md5_from_etag("\"b1946ac92492d2347c6235b4d2611184\"").as_deref(),
            Some("sZRqySSS0jR8YjW00mERhA==")
        );
        assert_eq!(
            md5_from_etag("sZRqySSS0jR8YjW00mERhA==").as_deref(),
            Some("sZRqySSS0jR8YjW00mERhA==")
        );
        // A composite object's ETag is not a digest.
        assert_eq!(md5_from_etag("\"CKih16GjycICEAE=\""), None);
        assert_eq!(
            md5_from_etag("\"b1946ac92492d2347c6235b4d2611184-2\""),
            None
        );
    }

    #[test]
    fn gs_uris_split_into_bucket_and_object() {
        assert_eq!(split_gs_uri("gs://b/x/y.jpg").unwrap(), ("b", "x/y.jpg"));
        assert_eq!(split_gs_uri("gs://b/*.jpg").unwrap(), ("b", "*.jpg"));
        for bad in ["gs://b", "gs://b/", "gs:///x", "gs://b*/x", "gs://b/../x"] {
            let e = split_gs_uri(bad).unwrap_err();
            assert_eq!(
                e.message,
                format!("Invalid Cloud Storage URI: {bad}; expected gs://BUCKET/OBJECT")
            );
        }
    }
}
