//! Errors returned by the SDK: a stable code plus the server's message.

use std::fmt;

use crate::error_code::{ErrorCode, CODE_KEY, LEADER_KEY};

/// A failed call. `code()` is stable; the message is for people.
#[derive(Debug, Clone)]
pub struct ClientError {
    code: ErrorCode,
    message: String,
    /// The leader's address, when a node answered `NotLeader`.
    pub(crate) leader: Option<String>,
    /// Whether the request certainly never reached a server.
    pub(crate) not_sent: bool,
}

/// Result alias for SDK calls.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

impl ClientError {
    /// An error with `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ClientError { code, message: message.into(), leader: None, not_sent: false }
    }

    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the outcome of the request is unknown (it may have applied).
    pub fn is_unknown_outcome(&self) -> bool {
        matches!(self.code, ErrorCode::Timeout) || (self.code == ErrorCode::Unavailable && !self.not_sent)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ClientError {}

/// Whether `s` shows that the connection was never made (so the request was
/// certainly not sent): refused, unresolvable or timed-out connects.
fn connect_failed(s: &tonic::Status) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(s);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(io.kind(), ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable) {
                return true;
            }
        }
        // hyper-util's connector reports the connect phase by these names.
        let text = e.to_string();
        if text.starts_with("dns error")
            || text.starts_with("tcp connect error")
            || text.contains("client error (Connect)")
        {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The TLS failure behind `s`, if the connection failed in TLS (the
/// handshake, or the server refusing our certificate): the request was
/// never served.
fn tls_failure(s: &tonic::Status) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(s);
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<crate::tls::TlsError>() {
            return Some(tls.to_string());
        }
        if e.downcast_ref::<rustls::Error>().is_some() {
            return Some(e.to_string());
        }
        cur = e.source();
    }
    None
}

impl From<tonic::Status> for ClientError {
    fn from(s: tonic::Status) -> Self {
        let meta = |k: &str| s.metadata().get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let code = meta(CODE_KEY).and_then(|c| c.parse().ok());
        let (code, not_sent) = match code {
            Some(c) => (c, false),
            None => match s.code() {
                tonic::Code::DeadlineExceeded => (ErrorCode::Timeout, false),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => {
                    (ErrorCode::Unavailable, connect_failed(&s) || tls_failure(&s).is_some())
                }
                tonic::Code::InvalidArgument | tonic::Code::OutOfRange => (ErrorCode::InvalidArgument, false),
                _ => (ErrorCode::Internal, false),
            },
        };
        let mut message = if s.message().is_empty() { code.description().to_owned() } else { s.message().to_owned() };
        if let Some(tls) = tls_failure(&s).filter(|t| !message.contains(t.as_str())) {
            message = format!("{message}: {tls}");
        }
        ClientError { code, message, leader: meta(LEADER_KEY), not_sent }
    }
}

impl From<crate::tls::TlsError> for ClientError {
    fn from(e: crate::tls::TlsError) -> Self {
        ClientError::new(e.code(), e.to_string())
    }
}
