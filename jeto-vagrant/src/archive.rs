//! Instance folders from archives: download with a size cap and a time limit, check an optional
//! SHA-256, recognise the type by content (gzip, tar, zip), and extract without ever writing
//! outside the target folder.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use jeto_core::{ConsoleSink, ProviderError};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::VagrantConfig;

/// Most entries an archive may hold.
const MAX_ENTRIES: usize = 100_000;

/// What an archive is, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// gzip-compressed tar (`.tar.gz`, `.tgz`).
    TarGz,
    /// Plain tar.
    Tar,
    /// Zip.
    Zip,
}

/// Recognises an archive by its magic bytes, whatever its name.
pub fn detect(head: &[u8]) -> Option<ArchiveKind> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveKind::TarGz)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(ArchiveKind::Zip)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::invalid(message.into())
}

/// Downloads `url` into `target` (a folder that must not exist) and extracts it there; any
/// failure removes everything it wrote.
pub async fn prepare(
    config: &VagrantConfig,
    url: &str,
    sha256: Option<&str>,
    target: &Path,
    console: &ConsoleSink,
) -> Result<(), ProviderError> {
    if !["http://", "https://", "file://"]
        .iter()
        .any(|p| url.starts_with(p))
    {
        return Err(invalid(format!(
            "archive_url {url:?} must be an http, https or file URL"
        )));
    }
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("instance");
    let download = target.with_file_name(format!(".{name}.download"));
    let staging = target.with_file_name(format!(".{name}.extracting"));
    let result = async {
        console.line(&format!("downloading {url}"));
        let bytes = fetch(config, url, &download).await?;
        console.line(&format!("downloaded {bytes} bytes"));
        if let Some(expected) = sha256 {
            check_sha256(&download, expected)?;
            console.line("sha256 checked");
        }
        let (limit, download2, staging2, target2) = (
            config.archive_max_extracted_bytes,
            download.clone(),
            staging.clone(),
            target.to_owned(),
        );
        let root = tokio::task::spawn_blocking(move || {
            extract(&download2, &staging2, limit)?;
            place(&staging2, &target2)
        })
        .await
        .map_err(|e| ProviderError::Other {
            context: "extracting".into(),
            source: e.into(),
        })??;
        console.line(&format!("extracted into {}", root.display()));
        Ok(())
    }
    .await;
    let _ = fs::remove_file(&download);
    let _ = fs::remove_dir_all(&staging);
    if result.is_err() {
        let _ = fs::remove_dir_all(target);
    }
    result
}

/// The most redirects a download follows.
const MAX_REDIRECTS: usize = 5;

/// Fetches `url` into `file`, stopping at the size cap: a local file for `file://` (the
/// service lets only admins give one), otherwise over HTTP(S) with Jeto's own client. Every
/// redirect is checked as it comes: http or https only, at most [`MAX_REDIRECTS`].
async fn fetch(config: &VagrantConfig, url: &str, file: &Path) -> Result<u64, ProviderError> {
    let what = format!("download of {url}");
    let failed = |message: String| ProviderError::PrepareFailed {
        what: what.clone(),
        message,
    };
    let mut out = tokio::fs::File::create(file)
        .await
        .map_err(|e| ProviderError::other(format!("creating {}", file.display()), e))?;
    let too_big = || {
        invalid(format!(
            "the archive at {url} is larger than {} bytes (archive_max_bytes); use a smaller archive or raise the limit",
            config.archive_max_bytes
        ))
    };
    let mut total: u64 = 0;
    let write = |chunk: &[u8], total: &mut u64| -> Result<(), ProviderError> {
        *total += chunk.len() as u64;
        if *total > config.archive_max_bytes {
            return Err(too_big());
        }
        Ok(())
    };
    let deadline = Duration::from_secs(config.download_timeout_secs);
    let copy = async {
        if let Some(path) = url.strip_prefix("file://") {
            let mut local = tokio::fs::File::open(path)
                .await
                .map_err(|e| failed(format!("cannot read {path}: {e}")))?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = local
                    .read(&mut buf)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                if n == 0 {
                    break;
                }
                write(&buf[..n], &mut total)?;
                out.write_all(&buf[..n])
                    .await
                    .map_err(|e| ProviderError::other(format!("writing {}", file.display()), e))?;
            }
            return Ok(());
        }
        let mut response = client(deadline)
            .get(url)
            .send()
            .await
            .map_err(|e| failed(describe(&e)))?;
        if response.status().is_redirection() {
            // A redirect the client did not follow: to a scheme it does not speak.
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
                .unwrap_or_default();
            return Err(failed(format!(
                "a redirect to {to} was refused: downloads follow http and https only"
            )));
        }
        if !response.status().is_success() {
            return Err(failed(format!(
                "the server answered {} for {}",
                response.status(),
                response.url()
            )));
        }
        if response
            .content_length()
            .is_some_and(|length| length > config.archive_max_bytes)
        {
            return Err(too_big());
        }
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(describe(&e)))? {
            write(&chunk, &mut total)?;
            out.write_all(&chunk)
                .await
                .map_err(|e| ProviderError::other(format!("writing {}", file.display()), e))?;
        }
        Ok(())
    };
    match tokio::time::timeout(deadline, copy).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(ProviderError::Timeout {
                what,
                after: deadline,
            })
        }
    }
    out.sync_all()
        .await
        .map_err(|e| ProviderError::other(format!("writing {}", file.display()), e))?;
    Ok(total)
}

/// The HTTP client of downloads: rustls, no proxy from the environment, redirects checked hop
/// by hop.
fn client(timeout: Duration) -> reqwest::Client {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        let scheme = attempt.url().scheme();
        if scheme != "http" && scheme != "https" {
            let refused = format!(
                "a redirect to {} was refused: downloads follow http and https only",
                attempt.url()
            );
            attempt.error(refused)
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .redirect(redirects)
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .no_proxy()
        .build()
        .expect("the download client builds (rustls, no system settings)")
}

/// An HTTP error with its causes (reqwest's own message says little: "error following
/// redirect").
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

fn check_sha256(file: &Path, expected: &str) -> Result<(), ProviderError> {
    let mut hasher = Sha256::new();
    let mut f = File::open(file).map_err(|e| ProviderError::other("reading the download", e))?;
    io::copy(&mut f, &mut hasher).map_err(|e| ProviderError::other("reading the download", e))?;
    let actual = hex::encode(hasher.finalize());
    if actual.eq_ignore_ascii_case(expected.trim()) {
        Ok(())
    } else {
        Err(invalid(format!(
            "the archive's SHA-256 is {actual}, not the expected {expected}; nothing was extracted"
        )))
    }
}

/// A path inside the archive as a safe relative path: no root, no `..`.
fn relative(name: &Path) -> Result<PathBuf, ProviderError> {
    let mut out = PathBuf::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(invalid(format!(
                    "the archive entry {} points outside its folder (absolute or with ..); nothing was extracted",
                    name.display()
                )))
            }
        }
    }
    Ok(out)
}

/// Where a link at `entry` pointing to `link` lands, relative to the root; an error when it
/// leaves the root.
fn link_inside(entry: &Path, link: &Path) -> Result<(), ProviderError> {
    if link.is_absolute() {
        return Err(invalid(format!(
            "the archive link {} points to the absolute path {}",
            entry.display(),
            link.display()
        )));
    }
    let mut depth: Vec<&std::ffi::OsStr> = entry
        .parent()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    for component in link.components() {
        match component {
            Component::Normal(part) => depth.push(part),
            Component::CurDir => {}
            Component::ParentDir if depth.pop().is_some() => {}
            _ => {
                return Err(invalid(format!(
                    "the archive link {} -> {} points outside its folder",
                    entry.display(),
                    link.display()
                )))
            }
        }
    }
    Ok(())
}

/// The destination of an entry, refusing to write through a link the archive made.
fn destination(root: &Path, relative: &Path) -> Result<PathBuf, ProviderError> {
    let mut path = root.to_owned();
    for part in relative.iter() {
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(invalid(format!(
                "the archive entry {} goes through a link",
                relative.display()
            )));
        }
        path.push(part);
    }
    if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        fs::remove_file(&path).map_err(|e| ProviderError::other("replacing a link", e))?;
    }
    Ok(path)
}

/// Counts extracted bytes against the cap.
struct Budget {
    left: u64,
    limit: u64,
    entries: usize,
}

impl Budget {
    fn entry(&mut self) -> Result<(), ProviderError> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(invalid(format!(
                "the archive has more than {MAX_ENTRIES} entries"
            )));
        }
        Ok(())
    }

    fn write(&mut self, reader: &mut dyn Read, dest: &Path) -> Result<(), ProviderError> {
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| ProviderError::other(format!("creating {}", parent.display()), e))?;
        }
        let mut file = File::create(dest)
            .map_err(|e| ProviderError::other(format!("creating {}", dest.display()), e))?;
        let written = io::copy(&mut reader.take(self.left + 1), &mut file)
            .map_err(|e| invalid(format!("the archive is damaged: {e}")))?;
        if written > self.left {
            return Err(invalid(format!(
                "the archive extracts to more than {} bytes (archive_max_extracted_bytes); nothing was kept",
                self.limit
            )));
        }
        self.left -= written;
        Ok(())
    }
}

fn symlink(link: &Path, dest: &Path) -> Result<(), ProviderError> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|e| ProviderError::other("creating a folder", e))?;
    }
    std::os::unix::fs::symlink(link, dest)
        .map_err(|e| ProviderError::other(format!("creating the link {}", dest.display()), e))
}

/// Extracts `file` into the new folder `root`.
pub fn extract(file: &Path, root: &Path, limit: u64) -> Result<(), ProviderError> {
    let mut f = File::open(file).map_err(|e| ProviderError::other("reading the download", e))?;
    let mut head = [0u8; 512];
    let n = f
        .read(&mut head)
        .map_err(|e| ProviderError::other("reading the download", e))?;
    f.seek(SeekFrom::Start(0))
        .map_err(|e| ProviderError::other("reading the download", e))?;
    let kind = detect(&head[..n])
        .ok_or_else(|| invalid("the download is not a .tar.gz, .tgz, .tar or .zip archive"))?;
    fs::create_dir_all(root)
        .map_err(|e| ProviderError::other(format!("creating {}", root.display()), e))?;
    let mut budget = Budget {
        left: limit,
        limit,
        entries: 0,
    };
    match kind {
        ArchiveKind::TarGz => extract_tar(
            tar::Archive::new(flate2::read::GzDecoder::new(f)),
            root,
            &mut budget,
        ),
        ArchiveKind::Tar => extract_tar(tar::Archive::new(f), root, &mut budget),
        ArchiveKind::Zip => extract_zip(f, root, &mut budget),
    }
}

fn extract_tar<R: Read>(
    mut archive: tar::Archive<R>,
    root: &Path,
    budget: &mut Budget,
) -> Result<(), ProviderError> {
    let damaged = |e: io::Error| invalid(format!("the archive is damaged: {e}"));
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        budget.entry()?;
        let name = entry.path().map_err(damaged)?.into_owned();
        let rel = relative(&name)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let dest = destination(root, &rel)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            fs::create_dir_all(&dest).map_err(|e| ProviderError::other("creating a folder", e))?;
        } else if kind.is_symlink() {
            let link = entry
                .link_name()
                .map_err(damaged)?
                .ok_or_else(|| invalid("a link without a target"))?;
            link_inside(&rel, &link)?;
            symlink(&link, &dest)?;
        } else if kind.is_hard_link() {
            let link = entry
                .link_name()
                .map_err(damaged)?
                .ok_or_else(|| invalid("a link without a target"))?;
            let source = destination(root, &relative(&link)?)?;
            fs::hard_link(&source, &dest)
                .map_err(|e| invalid(format!("the hard link {} is broken: {e}", rel.display())))?;
        } else if kind.is_file() {
            budget.write(&mut entry, &dest)?;
        }
        // Devices, fifos and other special entries are skipped.
    }
    Ok(())
}

fn extract_zip(file: File, root: &Path, budget: &mut Budget) -> Result<(), ProviderError> {
    let damaged = |e: zip::result::ZipError| invalid(format!("the zip archive is damaged: {e}"));
    let mut archive = zip::ZipArchive::new(file).map_err(damaged)?;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(damaged)?;
        budget.entry()?;
        let rel = relative(Path::new(entry.name()))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let dest = destination(root, &rel)?;
        let is_link = entry
            .unix_mode()
            .is_some_and(|mode| mode & 0o170000 == 0o120000);
        if entry.is_dir() {
            fs::create_dir_all(&dest).map_err(|e| ProviderError::other("creating a folder", e))?;
        } else if is_link {
            let mut target = String::new();
            entry
                .by_ref()
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|e| invalid(format!("a damaged link: {e}")))?;
            let link = PathBuf::from(target);
            link_inside(&rel, &link)?;
            symlink(&link, &dest)?;
        } else {
            budget.write(&mut entry, &dest)?;
        }
    }
    Ok(())
}

/// Moves the extracted tree to `target`, flattening a single top-level folder.
fn place(staging: &Path, target: &Path) -> Result<PathBuf, ProviderError> {
    let entries: Vec<_> = fs::read_dir(staging)
        .map_err(|e| ProviderError::other("reading the extracted files", e))?
        .filter_map(|e| e.ok())
        .collect();
    let single_folder = match entries.as_slice() {
        [only] if only.file_type().is_ok_and(|t| t.is_dir()) => Some(only.path()),
        _ => None,
    };
    let from = single_folder.unwrap_or_else(|| staging.to_owned());
    fs::rename(&from, target).map_err(|e| {
        ProviderError::other(
            format!("moving the extracted files to {}", target.display()),
            e,
        )
    })?;
    Ok(target.to_owned())
}
