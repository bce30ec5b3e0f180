//! The admin key of a server with no `[[tokens]]`: generated on first start, printed once,
//! only its hash kept in the data folder.

use std::path::Path;

use jeto_core::access::{hash_key, TokenConfig};

/// The file holding the hash of the generated admin key.
const ADMIN_KEY_FILE: &str = "admin_key.sha256";
/// Where the generated key itself goes when stdout is not a terminal.
const ADMIN_KEY_TEXT: &str = "admin_key.txt";

/// Writes `key` to a new file readable by this user only.
fn write_private(file: &Path, key: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .and_then(|mut f| writeln!(f, "{key}"))
        .map_err(|e| {
            format!(
                "cannot write the generated admin key to {}: {e}",
                file.display()
            )
        })
}

/// With no token configured: the admin token of the data folder, generated on first start.
pub(crate) fn generated_admin(
    data_dir: &Path,
    listen: std::net::SocketAddr,
) -> Result<TokenConfig, String> {
    let path = data_dir.join(ADMIN_KEY_FILE);
    let hash = match std::fs::read_to_string(&path) {
        Ok(hash) => hash.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::getrandom(&mut bytes).map_err(|e| format!("cannot generate a key: {e}"))?;
            let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let hash = hash_key(&key);
            jeto_core::store::write_atomically(&path, hash.as_bytes())
                .map_err(|e| e.to_string())?;
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                println!("No token is configured, so an admin key was generated. It is shown only this once; only its hash is kept in {}.", path.display());
                println!("admin key: {key}");
                println!("try: curl -H 'X-JETO-KEY: {key}' http://{listen}/api/instances");
            } else {
                // A journal or a log file would keep the key for anyone who reads it.
                let file = data_dir.join(ADMIN_KEY_TEXT);
                write_private(&file, &key)?;
                println!("No token is configured, so an admin key was generated. Output is not a terminal (a journal would keep it), so it is in {} (readable by this user only): store it elsewhere, then delete that file; only its hash is kept, in {}.", file.display(), path.display());
                println!("admin key file: {}", file.display());
                println!(
                    "try: curl -H \"X-JETO-KEY: $(cat {})\" http://{listen}/api/instances",
                    file.display()
                );
            }
            hash
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    Ok(TokenConfig {
        name: "admin".into(),
        key_sha256: hash,
        admin: true,
        hosts: Default::default(),
        instances: Default::default(),
        projects: Default::default(),
        actions: None,
        metrics_only: false,
    })
}
