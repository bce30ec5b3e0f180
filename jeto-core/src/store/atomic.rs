//! Replacing a file so that a crash leaves either the old or the new content, never a mix.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename over
/// `path`, fsync of the folder (the approach of Vagrant's own machine index).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let context = |what: &str| format!("{what} {}", path.display());
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile_in(folder, path)
        .map_err(|e| Error::storage(context("creating a temporary file for"), e))?;
    let result = (|| {
        temp.1.write_all(bytes)?;
        temp.1.sync_all()?;
        fs::rename(&temp.0, path)?;
        File::open(folder)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp.0);
    }
    result.map_err(|e| Error::storage(context("writing"), e))
}

fn tempfile_in(folder: &Path, target: &Path) -> std::io::Result<(std::path::PathBuf, File)> {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("data");
    let path = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    // Data files are the server's alone.
    let file = std::os::unix::fs::OpenOptionsExt::mode(
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
        0o600,
    )
    .open(&path)?;
    Ok((path, file))
}
