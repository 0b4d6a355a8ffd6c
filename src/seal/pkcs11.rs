//! The HSM seal: the root key encrypted with AES-256-GCM by a key that is
//! generated inside a PKCS#11 token and never leaves it (sensitive, not
//! extractable). Tested against SoftHSM2.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::{read_secret_setting, SealError};
use crate::config::SealConfig;
use crate::crypto::{random_fill, Key256};
use crate::proto::storage::SealedRootFile;

const AAD: &[u8] = b"coffer/v1/pkcs11-root";

/// An HSM seal.
pub struct Pkcs11Seal {
    pub(super) file: PathBuf,
    module: PathBuf,
    token_label: String,
    key_label: String,
    pin: Zeroizing<String>,
}

/// One initialized context per module for the whole process: PKCS#11
/// libraries are initialized once, and finalizing one would break others.
fn context(module: &Path) -> Result<Arc<Pkcs11>, SealError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Arc<Pkcs11>>>> = OnceLock::new();
    let mut map = CONTEXTS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = map.get(module) {
        return Ok(c.clone());
    }
    let ctx = Pkcs11::new(module).map_err(|e| SealError::Config(format!("cannot load {}: {e}", module.display())))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(SealError::Hsm(format!("initialize: {e}"))),
    }
    let ctx = Arc::new(ctx);
    map.insert(module.to_path_buf(), ctx.clone());
    Ok(ctx)
}

fn hsm(what: &str) -> impl Fn(CkError) -> SealError + '_ {
    move |e| SealError::Hsm(format!("{what}: {e}"))
}

impl Pkcs11Seal {
    pub(super) fn new(config: &SealConfig, file: PathBuf) -> Result<Self, SealError> {
        let module =
            config.pkcs11_module.clone().ok_or_else(|| SealError::Config("seal.pkcs11_module is required".into()))?;
        let pin = read_secret_setting(config.pkcs11_pin_file.as_deref(), "COFFER_PKCS11_PIN")?;
        Ok(Pkcs11Seal {
            file,
            module,
            token_label: config.pkcs11_token_label.clone(),
            key_label: config.pkcs11_key_label.clone(),
            pin,
        })
    }

    /// A logged-in session on the configured token.
    fn session(&self) -> Result<Session, SealError> {
        let ctx = context(&self.module)?;
        let slot = ctx
            .get_slots_with_token()
            .map_err(hsm("list slots"))?
            .into_iter()
            .find(|s| ctx.get_token_info(*s).is_ok_and(|t| t.label() == self.token_label))
            .ok_or_else(|| SealError::Config(format!("no token labelled '{}'", self.token_label)))?;
        let session = ctx.open_rw_session(slot).map_err(hsm("open session"))?;
        let pin = AuthPin::from(self.pin.as_str());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(SealError::Open("wrong HSM PIN".into())),
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(SealError::Open("the HSM PIN is locked".into())),
            Err(e) => Err(SealError::Hsm(format!("login: {e}"))),
        }
    }

    /// The wrapping key, if the token has one by the configured label. A key
    /// that could leave the HSM (extractable, not sensitive) or is not AES is
    /// refused rather than used.
    fn find_key(&self, session: &Session) -> Result<Option<ObjectHandle>, SealError> {
        let template =
            [Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Label(self.key_label.as_bytes().to_vec())];
        let Some(key) = session.find_objects(&template).map_err(hsm("find key"))?.into_iter().next() else {
            return Ok(None);
        };
        let kinds = [AttributeType::KeyType, AttributeType::Sensitive, AttributeType::Extractable];
        let attrs = session.get_attributes(key, &kinds).map_err(hsm("read key attributes"))?;
        let safe = attrs.iter().any(|a| matches!(a, Attribute::KeyType(t) if *t == KeyType::AES))
            && attrs.iter().any(|a| matches!(a, Attribute::Sensitive(true)))
            && attrs.iter().any(|a| matches!(a, Attribute::Extractable(false)));
        if !safe {
            return Err(SealError::Config(format!(
                "the HSM key '{}' must be an AES key that is sensitive and not extractable",
                self.key_label
            )));
        }
        Ok(Some(key))
    }

    fn key(&self, session: &Session) -> Result<ObjectHandle, SealError> {
        if let Some(k) = self.find_key(session)? {
            return Ok(k);
        }
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Label(self.key_label.as_bytes().to_vec()),
        ];
        session.generate_key(&Mechanism::AesKeyGen, &template).map_err(hsm("generate wrapping key"))
    }

    pub(super) fn seal(&self, root: &Key256) -> Result<SealedRootFile, SealError> {
        let session = self.session()?;
        let key = self.key(&session)?;
        let mut iv = vec![0u8; 12];
        random_fill(&mut iv).map_err(|e| SealError::Hsm(e.to_string()))?;
        let mut iv_param = iv.clone();
        let params = GcmParams::new(&mut iv_param, AAD, 128.into()).map_err(hsm("gcm parameters"))?;
        let ciphertext = session.encrypt(&Mechanism::AesGcm(params), key, root.expose()).map_err(hsm("encrypt"))?;
        Ok(SealedRootFile {
            kind: "pkcs11".into(),
            key_label: self.key_label.clone(),
            iv,
            ciphertext,
            ..Default::default()
        })
    }

    pub(super) fn open(&self, file: &SealedRootFile) -> Result<Key256, SealError> {
        if file.kind != "pkcs11" {
            return Err(SealError::Config(format!("the sealed root key was made by a '{}' seal", file.kind)));
        }
        let session = self.session()?;
        let key = self
            .find_key(&session)?
            .ok_or_else(|| SealError::Open(format!("the HSM has no key labelled '{}'", self.key_label)))?;
        let mut iv = file.iv.clone();
        let params = GcmParams::new(&mut iv, AAD, 128.into()).map_err(hsm("gcm parameters"))?;
        let plain = Zeroizing::new(
            session
                .decrypt(&Mechanism::AesGcm(params), key, &file.ciphertext)
                .map_err(|_| SealError::Open("the HSM could not decrypt the sealed root key".into()))?,
        );
        Key256::from_slice(&plain).ok_or_else(|| SealError::Open("bad root key length".into()))
    }
}
