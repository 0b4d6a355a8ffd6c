//! Associated data: where a ciphertext belongs. Decrypting it anywhere else
//! fails, so a ciphertext copied or swapped between objects is detected.

/// The keyring, sealed under the root key.
pub const KEYRING: &[u8] = b"coffer/v1/keyring";

/// The cluster CA's private key, sealed under a data key.
pub const CLUSTER_CA_KEY: &[u8] = b"coffer/v1/cluster-ca-key";

/// A secret version's value.
pub fn secret_value(vault: &str, name: &str, version: &str) -> Vec<u8> {
    format!("coffer/v1/secret-value/{vault}/{name}/{version}").into_bytes()
}

/// A secret version's content type and tags.
pub fn secret_meta(vault: &str, name: &str, version: &str) -> Vec<u8> {
    format!("coffer/v1/secret-meta/{vault}/{name}/{version}").into_bytes()
}

/// A backup blob of the secret `name` in `vault`: the blob opens only as
/// a backup of that secret, so the source it claims is proven.
pub fn secret_backup(vault: &str, name: &str) -> Vec<u8> {
    format!("coffer/v1/secret-backup/{vault}/{name}").into_bytes()
}
