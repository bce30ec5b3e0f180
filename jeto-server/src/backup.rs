//! `jeto backup` and `jeto restore`: a consistent copy of a server's data folder (the
//! database through SQLite's `VACUUM INTO`, the managed instance folders with their
//! `.vagrant` machine ids, the generated admin key's hash and the NATS signing seed) in one
//! gzipped tar, and its restore into another data folder, the managed instances' paths moved
//! along. Taken while the server runs; a command running at that moment is restored as
//! `interrupted`, as after a crash.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use jeto_core::store::{SqliteStore, Store, DATABASE_FILE};
use serde::{Deserialize, Serialize};

/// The archive's description of itself.
const MANIFEST: &str = "jeto-backup.json";
/// Files of the data folder kept beside the database, when present.
const KEPT_FILES: [&str; 2] = ["admin_key.sha256", "nats-signing.seed"];
/// The managed instance folders.
const INSTANCES: &str = "instances";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// The data folder it was taken from (its managed instances' paths start with it).
    data_dir: PathBuf,
    jeto_version: String,
    taken_at: String,
}

/// Writes a backup of `data_dir` to `to` (a `.tar.gz`, mode 0600, written whole or not at all).
pub fn backup(data_dir: &Path, to: &Path) -> Result<String, String> {
    let data_dir = data_dir
        .canonicalize()
        .map_err(|e| format!("data folder {}: {e}", data_dir.display()))?;
    if to.exists() {
        return Err(format!("{} exists already: give a new file", to.display()));
    }
    let scratch = tempfile::tempdir_in(
        to.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
    .map_err(|e| format!("cannot make a scratch folder beside {}: {e}", to.display()))?;
    let database = scratch.path().join(DATABASE_FILE);
    SqliteStore::backup(&data_dir, &database).map_err(|e| e.to_string())?;
    let partial = scratch.path().join("backup.tar.gz");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
        BufWriter::new(file),
        flate2::Compression::default(),
    ));
    // Links in instance folders are kept as links, never followed out of the folder.
    archive.follow_symlinks(false);
    let manifest = Manifest {
        format: 1,
        data_dir: data_dir.clone(),
        jeto_version: env!("CARGO_PKG_VERSION").into(),
        taken_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    };
    let manifest_path = scratch.path().join(MANIFEST);
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    let failed = |e: std::io::Error| format!("writing the backup: {e}");
    archive
        .append_path_with_name(&manifest_path, MANIFEST)
        .map_err(failed)?;
    archive
        .append_path_with_name(&database, DATABASE_FILE)
        .map_err(failed)?;
    for name in KEPT_FILES {
        let path = data_dir.join(name);
        if path.is_file() {
            archive.append_path_with_name(&path, name).map_err(failed)?;
        }
    }
    let instances = data_dir.join(INSTANCES);
    if instances.is_dir() {
        archive
            .append_dir_all(INSTANCES, &instances)
            .map_err(failed)?;
    }
    archive
        .into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|mut out| std::io::Write::flush(&mut out))
        .map_err(failed)?;
    std::fs::rename(&partial, to)
        .map_err(|e| format!("cannot move the backup to {}: {e}", to.display()))?;
    Ok(format!(
        "backed up {} to {} (database, managed instance folders, admin key hash, NATS signing seed); keep the config file and any key files it names with it",
        data_dir.display(),
        to.display()
    ))
}

/// Restores the backup `from` into `data_dir` (new or empty), moving the managed instances'
/// paths from the folder the backup was taken from to `data_dir`.
pub async fn restore(from: &Path, data_dir: &Path) -> Result<String, String> {
    if data_dir.exists()
        && std::fs::read_dir(data_dir)
            .map_err(|e| format!("{}: {e}", data_dir.display()))?
            .next()
            .is_some()
    {
        return Err(format!(
            "{} is not empty: restore into a new or empty folder (nothing there is overwritten)",
            data_dir.display()
        ));
    }
    crate::process::private_data_dir(data_dir)?;
    let file = File::open(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    archive.set_preserve_permissions(true);
    // `unpack` keeps every entry inside data_dir (no absolute paths, no `..`).
    archive
        .unpack(data_dir)
        .map_err(|e| format!("{} is not a whole jeto backup: {e}", from.display()))?;
    let manifest: Manifest = std::fs::read(data_dir.join(MANIFEST))
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
        .map_err(|e| format!("{} has no readable {MANIFEST}: {e}", from.display()))?;
    if manifest.format != 1 {
        return Err(format!(
            "{} is a backup of format {} (jeto {}); this jeto reads format 1",
            from.display(),
            manifest.format,
            manifest.jeto_version
        ));
    }
    let _ = std::fs::remove_file(data_dir.join(MANIFEST));
    let data_dir = data_dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let store = SqliteStore::open(&data_dir).map_err(|e| e.to_string())?;
    let old = manifest.data_dir.join(INSTANCES);
    let new = data_dir.join(INSTANCES);
    let mut moved = 0;
    for mut record in store.instances().await.map_err(|e| e.to_string())? {
        let Ok(rest) = Path::new(&record.spec.path).strip_prefix(&old) else {
            continue;
        };
        record.spec.path = new.join(rest).display().to_string();
        store
            .update_instance(record)
            .await
            .map_err(|e| e.to_string())?;
        moved += 1;
    }
    Ok(format!(
        "restored {} (taken {} from {}) into {}; {moved} managed instance(s) moved along",
        from.display(),
        manifest.taken_at,
        manifest.data_dir.display(),
        data_dir.display()
    ))
}
