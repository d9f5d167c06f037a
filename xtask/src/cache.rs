//! The build cache under `~/.cache/daedalus/` and the lock that keeps two runs from building the
//! same entry at once.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// `$DAEDALUS_CACHE`, else `$XDG_CACHE_HOME/daedalus`, else `~/.cache/daedalus`.
pub fn root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DAEDALUS_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("daedalus"));
    }
    let home = std::env::var_os("HOME").context(
        "neither DAEDALUS_CACHE nor HOME is set: set DAEDALUS_CACHE to a cache directory",
    )?;
    Ok(PathBuf::from(home).join(".cache/daedalus"))
}

/// An exclusive lock on one cache entry, held by creating a directory (atomic on every local
/// filesystem) that records the holder's pid. A lock whose holder no longer runs (a build that
/// was killed) is taken over; the entry's own stamps say how far that build got.
pub struct Lock {
    dir: PathBuf,
}

fn holder_alive(dir: &Path) -> bool {
    let Ok(pid) = fs::read_to_string(dir.join("pid")) else {
        // Created but not yet written: the holder is between two syscalls.
        return true;
    };
    let pid = pid.trim();
    !pid.is_empty() && Path::new("/proc").join(pid).exists()
}

impl Lock {
    pub fn acquire(dir: PathBuf) -> Result<Lock> {
        let mut announced = false;
        loop {
            match fs::create_dir(&dir) {
                Ok(()) => {
                    fs::write(dir.join("pid"), std::process::id().to_string())
                        .with_context(|| format!("cannot write {}", dir.join("pid").display()))?;
                    return Ok(Lock { dir });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if !holder_alive(&dir) {
                        eprintln!("xtask: taking over stale lock {}", dir.display());
                        fs::remove_dir_all(&dir).with_context(|| {
                            format!("cannot remove stale lock {}", dir.display())
                        })?;
                        continue;
                    }
                    if !announced {
                        eprintln!(
                            "xtask: waiting for another build holding {} to finish",
                            dir.display()
                        );
                        announced = true;
                    }
                    std::thread::sleep(Duration::from_secs(5));
                }
                Err(e) => {
                    bail!("cannot create lock {}: {e}", dir.display())
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Hex SHA-256 of `parts`, each length-prefixed so that moving bytes between parts changes it.
pub fn hash(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Keeps only characters that are safe in a directory name.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_separates_parts() {
        assert_ne!(hash(&[b"ab", b"c"]), hash(&[b"a", b"bc"]));
        assert_eq!(hash(&[b"x"]).len(), 64);
    }

    #[test]
    fn sanitize_keeps_versions_readable() {
        assert_eq!(sanitize("6.12.117-1~deb12u1"), "6.12.117-1_deb12u1");
        assert_eq!(sanitize("1.96.0 (ac68faa20"), "1.96.0__ac68faa20");
    }

    #[test]
    fn lock_is_exclusive_and_released() {
        let dir = std::env::temp_dir().join(format!("xtask-lock-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let l = Lock::acquire(dir.clone()).unwrap();
        assert!(dir.join("pid").exists());
        assert!(holder_alive(&dir));
        drop(l);
        assert!(!dir.exists());
    }

    #[test]
    fn stale_lock_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("xtask-stale-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        // pid_max is at most 2^22 on Linux, so this pid cannot run.
        fs::write(dir.join("pid"), "99999999").unwrap();
        let l = Lock::acquire(dir.clone()).unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("pid")).unwrap(),
            std::process::id().to_string()
        );
        drop(l);
    }
}
