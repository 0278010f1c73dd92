//! A manager's Raft data key and what wraps it (swarmkit's raft DEK and KEK). The data key
//! seals the member's log entries and snapshots (`berth_raft::Sealer`); it is kept on disk
//! only wrapped, in `<swarm>/raft-keys/dek.json`. Without autolock the key-encrypting key is a
//! random 32-byte file beside it (`kek`, 0600); with autolock it is the swarm's unlock key
//! (`SWMKEY-1-…`), which never touches this disk, so a restarted manager cannot open its store
//! until a user unlocks it. Changing autolock or rotating the unlock key re-wraps the same
//! data key; the store itself is never rewritten.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use berth_raft::{unwrap_key, wrap_key, DataKey};
use serde::{Deserialize, Serialize};

use crate::files::{ensure_dir_mode, read_json, write_atomic, write_json_atomic};

/// Docker's prefix of a human-readable unlock key.
pub const UNLOCK_KEY_PREFIX: &str = "SWMKEY-1-";

/// A swarm unlock key: 32 random bytes, shown as `SWMKEY-1-<base64, unpadded>` as Docker does.
#[derive(Clone, PartialEq, Eq)]
pub struct UnlockKey(DataKey);

impl std::fmt::Debug for UnlockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnlockKey(..)")
    }
}

impl UnlockKey {
    /// A fresh key.
    pub fn generate() -> Self {
        UnlockKey(DataKey::generate())
    }

    /// Parses Docker's form; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.trim().strip_prefix(UNLOCK_KEY_PREFIX)?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body)
            .ok()?;
        Some(UnlockKey(DataKey(bytes.try_into().ok()?)))
    }

    /// Docker's form.
    pub fn text(&self) -> String {
        let body = base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.0 .0);
        format!("{UNLOCK_KEY_PREFIX}{body}")
    }
}

/// Why the data key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Autolocked and no (or no valid) unlock key given.
    #[error("locked")]
    Locked,
    /// The unlock key given does not open the data key.
    #[error("invalid unlock key")]
    InvalidKey,
    /// Reading or writing the key files.
    #[error("raft keys {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// The wrapped data key as stored.
#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    /// The data key wrapped by the KEK (base64 of nonce and ciphertext).
    wrapped: String,
    /// Whether the KEK is the unlock key (else the `kek` file).
    autolocked: bool,
}

/// The key files of one manager.
#[derive(Debug, Clone)]
pub struct RaftKeys {
    dir: PathBuf,
}

impl RaftKeys {
    /// The key files beside the Raft store at `raft_dir`.
    pub fn beside(raft_dir: &Path) -> Self {
        RaftKeys {
            dir: raft_dir.with_file_name("raft-keys"),
        }
    }

    fn io(&self, path: &Path, source: std::io::Error) -> KeyError {
        KeyError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    fn dek_file(&self) -> PathBuf {
        self.dir.join("dek.json")
    }

    fn kek_file(&self) -> PathBuf {
        self.dir.join("kek")
    }

    /// Forgets the data key (a new store, after a demotion or a forced new cluster, gets a
    /// new one; an old one wrapped by a former unlock key would lock it for nothing).
    pub fn forget(&self) -> Result<(), KeyError> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(&self.dir, e)),
        }
    }

    /// Whether the data key is wrapped by the unlock key.
    pub fn is_autolocked(&self) -> bool {
        matches!(read_json::<KeyFile>(&self.dek_file()), Ok(Some(f)) if f.autolocked)
    }

    /// The data key: made on first use (wrapped by a new KEK file), else unwrapped with the
    /// KEK file or, when autolocked, with `unlock`.
    pub fn open(&self, unlock: Option<&UnlockKey>) -> Result<DataKey, KeyError> {
        let file =
            read_json::<KeyFile>(&self.dek_file()).map_err(|e| self.io(&self.dek_file(), e))?;
        let Some(file) = file else {
            let key = DataKey::generate();
            self.wrap(&key, None)?;
            return Ok(key);
        };
        let wrapped = base64::engine::general_purpose::STANDARD
            .decode(&file.wrapped)
            .map_err(|e| self.io(&self.dek_file(), std::io::Error::other(e)))?;
        if file.autolocked {
            let kek = unlock.ok_or(KeyError::Locked)?;
            return unwrap_key(&kek.0, &wrapped).ok_or(KeyError::InvalidKey);
        }
        let kek = std::fs::read(self.kek_file()).map_err(|e| self.io(&self.kek_file(), e))?;
        let kek =
            DataKey(kek.try_into().map_err(|_| {
                self.io(&self.kek_file(), std::io::Error::other("not a 32-byte key"))
            })?);
        unwrap_key(&kek, &wrapped).ok_or_else(|| {
            self.io(
                &self.dek_file(),
                std::io::Error::other("does not open with the kek file"),
            )
        })
    }

    /// Wraps `key` with `lock` (autolock) or with a new KEK file, replacing what was there.
    pub fn wrap(&self, key: &DataKey, lock: Option<&UnlockKey>) -> Result<(), KeyError> {
        ensure_dir_mode(&self.dir, 0o700).map_err(|e| self.io(&self.dir, e))?;
        let kek = match lock {
            Some(unlock) => unlock.0.clone(),
            None => {
                let kek = DataKey::generate();
                write_atomic(&self.kek_file(), &kek.0).map_err(|e| self.io(&self.kek_file(), e))?;
                kek
            }
        };
        let file = KeyFile {
            wrapped: base64::engine::general_purpose::STANDARD.encode(wrap_key(&kek, key)),
            autolocked: lock.is_some(),
        };
        write_json_atomic(&self.dek_file(), &file).map_err(|e| self.io(&self.dek_file(), e))?;
        if lock.is_some() {
            // The old KEK opens only the old wrapping, which is gone; the file goes too.
            match std::fs::remove_file(self.kek_file()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io(&self.kek_file(), e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlock_key_reads_back_from_dockers_form() {
        let k = UnlockKey::generate();
        let text = k.text();
        assert!(text.starts_with("SWMKEY-1-"));
        assert_eq!(text.len(), "SWMKEY-1-".len() + 43);
        assert_eq!(UnlockKey::parse(&text), Some(k));
        assert_eq!(UnlockKey::parse("SWMKEY-1-short"), None);
        assert_eq!(UnlockKey::parse("nonsense"), None);
    }

    #[test]
    fn the_data_key_survives_autolock_on_and_off() {
        let dir = tempfile::tempdir().unwrap();
        let keys = RaftKeys::beside(&dir.path().join("raft"));
        let dek = keys.open(None).unwrap();
        assert_eq!(keys.open(None).unwrap(), dek, "the kek file opens it");
        let unlock = UnlockKey::generate();
        keys.wrap(&dek, Some(&unlock)).unwrap();
        assert!(keys.is_autolocked());
        assert!(
            !keys.kek_file().exists(),
            "the key-encrypting key left the disk"
        );
        assert!(matches!(keys.open(None), Err(KeyError::Locked)));
        assert!(matches!(
            keys.open(Some(&UnlockKey::generate())),
            Err(KeyError::InvalidKey)
        ));
        assert_eq!(keys.open(Some(&unlock)).unwrap(), dek);
        keys.wrap(&dek, None).unwrap();
        assert!(!keys.is_autolocked());
        assert_eq!(keys.open(None).unwrap(), dek);
        keys.wrap(&dek, Some(&unlock)).unwrap();
        keys.forget().unwrap();
        assert_ne!(
            keys.open(None).unwrap(),
            dek,
            "a forgotten key is replaced, not locked"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.kek_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
