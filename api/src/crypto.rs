//! Identifiers at rest: AES-256-GCM ciphertext tagged with its key id (so keys can rotate), and
//! an HMAC-SHA-256 blind index for exact lookup and duplicate detection without decrypting.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Settings;

/// Keys for identifier encryption and indexing.
#[derive(Clone)]
pub struct Vault {
    current_id: String,
    keys: HashMap<String, Aes256Gcm>,
    index_key: Vec<u8>,
}

/// Why a stored value could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext uses unknown key id {0:?}")]
    UnknownKey(String),
    #[error("ciphertext failed authentication")]
    Tampered,
    #[error("key {0:?} is not 64 hexadecimal characters")]
    BadKey(String),
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("current_id", &self.current_id)
            .finish_non_exhaustive()
    }
}

fn cipher(hex_key: &str, id: &str) -> Result<Aes256Gcm, VaultError> {
    let bytes = hex::decode(hex_key).map_err(|_| VaultError::BadKey(id.to_owned()))?;
    if bytes.len() != 32 {
        return Err(VaultError::BadKey(id.to_owned()));
    }
    Ok(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)))
}

impl Vault {
    /// Builds the vault from settings: the current key, retired keys, and the index key.
    pub fn from_settings(s: &Settings) -> Result<Self, VaultError> {
        let mut keys = HashMap::new();
        keys.insert(s.data_key_id.clone(), cipher(&s.data_key, &s.data_key_id)?);
        if let Some(old) = &s.old_data_keys {
            for pair in old.split(',').filter(|p| !p.trim().is_empty()) {
                let (id, key) = pair
                    .trim()
                    .split_once(':')
                    .ok_or_else(|| VaultError::BadKey(pair.to_owned()))?;
                keys.insert(id.to_owned(), cipher(key, id)?);
            }
        }
        let index_key =
            hex::decode(&s.index_key).map_err(|_| VaultError::BadKey("index".into()))?;
        Ok(Self {
            current_id: s.data_key_id.clone(),
            keys,
            index_key,
        })
    }

    /// The id of the key new values are encrypted with.
    pub fn current_key_id(&self) -> &str {
        &self.current_id
    }

    /// Encrypts under the current key: `<key id>:<base64(nonce || ciphertext)>`.
    pub fn encrypt(&self, clear: &str) -> String {
        let cipher = &self.keys[&self.current_id];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // AES-GCM encryption of a short string cannot fail for in-memory buffers.
        let ct = cipher.encrypt(&nonce, clear.as_bytes()).unwrap_or_default();
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        format!("{}:{}", self.current_id, B64.encode(blob))
    }

    /// Decrypts a value written by `encrypt` under any known key.
    pub fn decrypt(&self, stored: &str) -> Result<String, VaultError> {
        let (id, b64) = stored.split_once(':').ok_or(VaultError::Malformed)?;
        let cipher = self
            .keys
            .get(id)
            .ok_or_else(|| VaultError::UnknownKey(id.to_owned()))?;
        let blob = B64.decode(b64).map_err(|_| VaultError::Malformed)?;
        if blob.len() < 12 {
            return Err(VaultError::Malformed);
        }
        let (nonce, ct) = blob.split_at(12);
        let clear = cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| VaultError::Tampered)?;
        String::from_utf8(clear).map_err(|_| VaultError::Malformed)
    }

    /// The key id a stored value was encrypted with.
    pub fn key_id_of(stored: &str) -> Option<&str> {
        stored.split_once(':').map(|(id, _)| id)
    }

    /// Deterministic blind index of a normalized identifier.
    pub fn blind_index(&self, normalized: &str) -> String {
        // HMAC accepts keys of any length; new_from_slice cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key)
            .expect("HMAC takes any key length");
        mac.update(normalized.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// What `carehub keys rotate` re-encrypted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RotateReport {
    pub children: u64,
    pub guardians: u64,
}

impl std::fmt::Display for RotateReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "re-encrypted {} child and {} guardian ID numbers under the current key",
            self.children, self.guardians
        )
    }
}

/// Re-encrypts one table's `id_number_enc` (children and guardians share the column names).
macro_rules! rotate_table {
    ($db:expr, $vault:expr, $entity:ident, $what:literal) => {{
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
        const CHUNK: u64 = 500;
        let current = format!("{}:%", $vault.current_key_id());
        let mut done = 0u64;
        loop {
            let rows: Vec<(uuid::Uuid, Option<String>)> = $entity::Entity::find()
                .select_only()
                .column($entity::Column::Id)
                .column($entity::Column::IdNumberEnc)
                .filter($entity::Column::IdNumberEnc.is_not_null())
                .filter($entity::Column::IdNumberEnc.not_like(&current))
                .limit(CHUNK)
                .into_tuple()
                .all($db)
                .await?;
            if rows.is_empty() {
                break done;
            }
            let txn = crate::db::begin_write($db).await?;
            for (id, enc) in rows {
                let Some(enc) = enc else { continue };
                let clear = $vault
                    .decrypt(&enc)
                    .map_err(|e| anyhow::anyhow!("{} {id}: {e}", $what))?;
                let am = $entity::ActiveModel {
                    id: Set(id),
                    id_number_enc: Set(Some($vault.encrypt(&clear))),
                    ..Default::default()
                };
                $entity::Entity::update(am).exec(&txn).await?;
                done += 1;
            }
            txn.commit().await?;
        }
    }};
}

/// Re-encrypts every stored ID number that is not under the current key, in chunks of one
/// transaction each (a crash midway leaves every value readable: old keys stay configured until
/// the rotation has finished). The blind index does not change (its key is separate).
pub async fn rotate(
    db: &sea_orm::DatabaseConnection,
    vault: &Vault,
) -> anyhow::Result<RotateReport> {
    use carehub_entity::{child, guardian};
    Ok(RotateReport {
        children: rotate_table!(db, vault, child, "child"),
        guardians: rotate_table!(db, vault, guardian, "guardian"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn vault(extra: &[(&str, &str)]) -> Vault {
        let env: BTreeMap<String, String> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Vault::from_settings(&Settings::from_sources(&env).unwrap()).unwrap()
    }

    #[test]
    fn round_trips_and_hides_the_value() {
        let v = vault(&[]);
        let ct = v.encrypt("11010519491231002X");
        assert!(!ct.contains("11010519491231002X"));
        assert_eq!(v.decrypt(&ct).unwrap(), "11010519491231002X");
        assert_ne!(
            ct,
            v.encrypt("11010519491231002X"),
            "a fresh nonce each time"
        );
        assert_eq!(
            v.blind_index("11010519491231002X"),
            v.blind_index("11010519491231002X")
        );
    }

    #[test]
    fn tampering_is_detected() {
        let v = vault(&[]);
        let ct = v.encrypt("11010519491231002X");
        // Change one character of the sealed text to a different one (never the same letter,
        // which would leave the ciphertext intact and make this test flaky).
        let mut chars: Vec<char> = ct.chars().collect();
        let i = chars.len() - 2;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(v.decrypt(&tampered).is_err());
    }

    #[test]
    fn rotated_keys_still_decrypt() {
        let old = vault(&[]);
        let ct = old.encrypt("450102201201010015");
        let new_key = "33".repeat(32);
        let old_key = crate::config::dev_defaults::DATA_KEY;
        let rotated = vault(&[
            ("CAREHUB_DATA_KEY", &new_key),
            ("CAREHUB_DATA_KEY_ID", "k2"),
            ("CAREHUB_OLD_DATA_KEYS", &format!("k1:{old_key}")),
        ]);
        assert_eq!(rotated.decrypt(&ct).unwrap(), "450102201201010015");
        assert!(rotated.encrypt("x").starts_with("k2:"));
    }
}
