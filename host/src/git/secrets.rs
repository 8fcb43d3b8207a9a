//! Secrets at rest (remote tokens): XChaCha20-Poly1305 with a key from configuration, or, for the
//! embedded default, a key generated once into the data directory (mode 0600).

use std::path::Path;

use std::os::unix::fs::PermissionsExt as _;

use anyhow::Context;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

#[derive(Clone)]
pub(crate) struct Secrets {
    cipher: XChaCha20Poly1305,
    key: [u8; 32],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(…)")
    }
}

impl Secrets {
    /// `key_hex`: 64 hex digits. Without it, `<data>/secret.key`, created on first use.
    pub(crate) fn load(key_hex: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let key = match key_hex {
            Some(hex_key) => hex::decode(hex_key.trim()).context("BLINK_SECRET_KEY is not hex")?,
            None => {
                let path = data_dir.join("secret.key");
                if !path.exists() {
                    use std::io::Write as _;
                    use std::os::unix::fs::OpenOptionsExt as _;
                    let key: [u8; 32] = rand::random();
                    let mut file = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    file.write_all(hex::encode(key).as_bytes())?;
                }
                let mode = std::fs::metadata(&path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .permissions()
                    .mode();
                // As ssh does with a private key: a key others could read is a key to assume leaked.
                anyhow::ensure!(
                    mode & 0o077 == 0,
                    "{} can be read by other users (mode {:o}): make it the host user's only (chmod 600) \
                     or, if it may have leaked, set a new BLINK_SECRET_KEY and the projects' tokens again",
                    path.display(),
                    mode & 0o777
                );
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                hex::decode(text.trim()).with_context(|| format!("{} is not hex", path.display()))?
            }
        };
        anyhow::ensure!(key.len() == 32, "the secret key must be 32 bytes (64 hex digits)");
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|_| anyhow::anyhow!("bad key length"))?;
        let key: [u8; 32] = key.as_slice().try_into().map_err(|_| anyhow::anyhow!("bad key length"))?;
        Ok(Self { cipher, key })
    }

    /// A key for another use than sealing, from the same secret: one secret to keep, and a key
    /// that tells nothing about the sealing key or about a key derived for another `purpose`.
    pub(crate) fn derive(&self, purpose: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::new().chain_update(purpose.as_bytes()).chain_update([0]).chain_update(self.key).finalize().into()
    }

    pub(crate) fn seal(&self, plain: &str) -> String {
        let nonce: [u8; 24] = rand::random();
        // Encryption with a valid key and nonce cannot fail.
        let sealed = self.cipher.encrypt(&XNonce::from(nonce), plain.as_bytes()).unwrap_or_default();
        format!("{}{}", hex::encode(nonce), hex::encode(sealed))
    }

    pub(crate) fn open(&self, sealed: &str) -> Option<String> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, text) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().ok()?;
        let plain = self.cipher.decrypt(&XNonce::from(nonce), text).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_with_the_same_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Secrets::load(None, dir.path()).unwrap();
        let sealed = secrets.seal("ghp_secret");
        assert!(!sealed.contains("ghp_secret"));
        assert_eq!(Secrets::load(None, dir.path()).unwrap().open(&sealed).as_deref(), Some("ghp_secret"));
        let other = Secrets::load(Some(&"11".repeat(32)), dir.path()).unwrap();
        assert_eq!(other.open(&sealed), None);
    }
}
