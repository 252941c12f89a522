//! Keys: AWS's public keys as `aws cloudtrail list-public-keys` prints them, for checking
//! signatures, and a private key for signing digests of generated trails and tests.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// Public keys by fingerprint.
#[derive(Debug, Default, Clone)]
pub struct PublicKeys {
    keys: HashMap<String, Vec<u8>>,
}

impl PublicKeys {
    /// Reads `{"PublicKeyList":[{"Value": base64 DER PKCS#1, "Fingerprint": ...}, ...]}`.
    pub fn read(path: &Path) -> Result<Self> {
        let bad = |message: String| Error::Keys {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        Self::parse(&text).map_err(bad)
    }

    /// Reads the JSON of [`PublicKeys::read`] from memory.
    pub fn parse(text: &[u8]) -> std::result::Result<Self, String> {
        let v: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
            format!("not JSON ({e}); expected what `aws cloudtrail list-public-keys` prints")
        })?;
        let list = v
            .get("PublicKeyList")
            .and_then(|l| l.as_array())
            .ok_or("no PublicKeyList: expected what `aws cloudtrail list-public-keys` prints")?;
        let mut keys = HashMap::new();
        for (i, k) in list.iter().enumerate() {
            let field = |name: &str| {
                k.get(name)
                    .and_then(|f| f.as_str())
                    .ok_or(format!("key {} has no {name}", i + 1))
            };
            let der = STANDARD
                .decode(field("Value")?)
                .map_err(|e| format!("key {}: Value is not base64: {e}", i + 1))?;
            keys.insert(field("Fingerprint")?.to_string(), der);
        }
        Ok(Self { keys })
    }

    /// Adds a key (DER PKCS#1 `RSAPublicKey`) under a fingerprint.
    pub fn insert(&mut self, fingerprint: String, der: Vec<u8>) {
        self.keys.insert(fingerprint, der);
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key has this fingerprint.
    pub fn has(&self, fingerprint: &str) -> bool {
        self.keys.contains_key(fingerprint)
    }

    /// Checks a hex SHA256withRSA signature of `message` with the key of `fingerprint`; false
    /// for an unknown key, bad hex or a signature that does not verify.
    pub fn verify(&self, fingerprint: &str, message: &[u8], signature_hex: &str) -> bool {
        let (Some(der), Ok(signature)) = (
            self.keys.get(fingerprint),
            hex::decode(signature_hex.trim()),
        ) else {
            return false;
        };
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
            .verify(message, &signature)
            .is_ok()
    }

    /// The JSON `aws cloudtrail list-public-keys` prints, for these keys.
    pub fn to_json(&self) -> String {
        let list: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|(fingerprint, der)| {
                serde_json::json!({
                    "Value": STANDARD.encode(der),
                    "ValidityStartTime": "2000-01-01T00:00:00Z",
                    "ValidityEndTime": "2100-01-01T00:00:00Z",
                    "Fingerprint": fingerprint,
                })
            })
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({ "PublicKeyList": list }))
            .unwrap_or_default()
    }
}

/// A private RSA key that signs digests as CloudTrail does (for generated trails and tests:
/// never an AWS key).
pub struct Signer {
    key: RsaKeyPair,
    fingerprint: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl Signer {
    /// Reads a PEM (`RSA PRIVATE KEY` or `PRIVATE KEY`, as `openssl genrsa` writes) or DER key.
    pub fn read(path: &Path) -> Result<Self> {
        let bad = |message: String| Error::SigningKey {
            path: path.display().to_string(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let der = match std::str::from_utf8(&bytes) {
            Ok(text) if text.contains("-----BEGIN") => {
                let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
                STANDARD
                    .decode(body.trim())
                    .map_err(|e| bad(format!("bad PEM: {e}")))?
            }
            _ => bytes,
        };
        let key = RsaKeyPair::from_pkcs8(&der)
            .or_else(|_| RsaKeyPair::from_der(&der))
            .map_err(|e| bad(format!("not an RSA private key (PKCS#1 or PKCS#8): {e}")))?;
        let fingerprint = fingerprint_of(key.public().as_ref());
        Ok(Self { key, fingerprint })
    }

    /// The public key, DER PKCS#1 `RSAPublicKey` (what `list-public-keys` gives in base64).
    pub fn public_der(&self) -> Vec<u8> {
        self.key.public().as_ref().to_vec()
    }

    /// The key's fingerprint: 32 hex digits, the shape of AWS's.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The hex SHA256withRSA signature of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        // PKCS#1 v1.5 signing is deterministic; the random source is only used for blinding.
        let rng = ring::rand::SystemRandom::new();
        match self
            .key
            .sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
        {
            Ok(()) => hex::encode(signature),
            Err(_) => String::new(),
        }
    }
}

/// A fingerprint for a key of ours: the first 16 bytes of its DER's SHA-256, in hex (AWS's
/// fingerprints are 32 hex digits too; validation only compares them).
pub fn fingerprint_of(der: &[u8]) -> String {
    hex::encode(&Sha256::digest(der)[..16])
}
