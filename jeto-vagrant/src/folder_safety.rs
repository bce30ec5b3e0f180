//! Checks that an instance folder Jeto made from a git repository or an archive keeps to
//! itself: no symbolic link resolves outside it, and `Vagrantfile` and `jeto.json` are regular
//! files. Links are resolved against the real tree (a chain of relative links is followed
//! as the kernel would), never judged by their text.

use std::path::{Path, PathBuf};

use jeto_core::{ProviderError, JETO_JSON};

/// Refuses a folder in which a link escapes, dangles, or stands for `Vagrantfile` or
/// `jeto.json`. The error names the entry relative to the folder, never where it points.
pub fn check(folder: &Path) -> Result<(), ProviderError> {
    let root = folder
        .canonicalize()
        .map_err(|e| refuse(folder, ".", &e.to_string()))?;
    for name in ["Vagrantfile", JETO_JSON] {
        match std::fs::symlink_metadata(root.join(name)) {
            Ok(meta) if !meta.is_file() => {
                return Err(refuse(
                    folder,
                    name,
                    "must be a regular file, not a link or a folder",
                ))
            }
            _ => {}
        }
    }
    let mut pending: Vec<PathBuf> = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| refuse(folder, ".", &e.to_string()))?;
        for entry in entries {
            let entry = entry.map_err(|e| refuse(folder, ".", &e.to_string()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| refuse(folder, ".", &e.to_string()))?;
            let relative = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            if kind.is_symlink() {
                match path.canonicalize() {
                    Ok(target) if target.starts_with(&root) => {}
                    Ok(_) => {
                        return Err(refuse(
                            folder,
                            &relative,
                            "is a link that leads outside the instance folder",
                        ))
                    }
                    Err(_) => {
                        return Err(refuse(folder, &relative, "is a link that leads nowhere"))
                    }
                }
            } else if kind.is_dir() {
                pending.push(path);
            }
        }
    }
    Ok(())
}

fn refuse(folder: &Path, entry: &str, why: &str) -> ProviderError {
    ProviderError::InstanceFolder {
        path: folder.to_owned(),
        reason: format!("{entry} {why}; the source was refused"),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn a_chain_of_relative_links_that_escapes_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        let base = outside.path().join("instances");
        let folder = base.join("1-web");
        std::fs::create_dir_all(folder.join("a/b")).unwrap();
        std::fs::write(folder.join("Vagrantfile"), "").unwrap();
        symlink("../..", folder.join("a/b/u")).unwrap();
        assert!(check(&folder).is_ok(), "a/b/u -> ../.. stays inside");
        symlink("a/b/u/../../secret", folder.join("jeto.json")).unwrap();
        let err = check(&folder).unwrap_err().to_string();
        assert!(err.contains("jeto.json must be a regular file"), "{err}");
        std::fs::remove_file(folder.join("jeto.json")).unwrap();
        symlink("a/b/u/../../secret", folder.join("data")).unwrap();
        let err = check(&folder).unwrap_err().to_string();
        assert!(err.contains("data is a link that leads outside"), "{err}");
        assert!(!err.contains("secret"), "the target is not named: {err}");
    }

    #[test]
    fn absolute_and_dangling_links_are_refused_inner_ones_kept() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(folder.path().join("Vagrantfile"), "").unwrap();
        std::fs::create_dir(folder.path().join("lib")).unwrap();
        symlink("lib", folder.path().join("lib2")).unwrap();
        assert!(check(folder.path()).is_ok());
        symlink("/etc/passwd", folder.path().join("lib/p")).unwrap();
        assert!(check(folder.path()).is_err());
        std::fs::remove_file(folder.path().join("lib/p")).unwrap();
        symlink("missing", folder.path().join("lib/m")).unwrap();
        assert!(check(folder.path()).is_err());
    }
}
