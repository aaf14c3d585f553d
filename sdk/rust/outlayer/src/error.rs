//! The statuses of the host functions, as one error type carrying the platform's message.

use std::fmt;

/// The negative statuses of `docs/guest-abi.md`.
pub mod status {
    pub const NOT_FOUND: i64 = -1;
    pub const NOT_ENABLED: i64 = -2;
    pub const LIMIT: i64 = -3;
    pub const QUOTA: i64 = -4;
    pub const INVALID: i64 = -5;
    pub const UNAVAILABLE: i64 = -6;
    pub const REFUSED: i64 = -7;
    pub const CONFLICT: i64 = -8;
    pub const FAILED: i64 = -9;
}

/// Why a host call failed. Each variant carries the message the platform left in the result
/// buffer (for logs: it says why and, where it can, what to change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `storage_get`: no such key; chain reads: no such account or contract.
    NotFound(String),
    /// The capability is off for this run.
    NotEnabled(String),
    /// A per-run cap (calls, bytes, time) is reached.
    Limit(String),
    /// The storage quota is full, or a value is too large.
    Quota(String),
    /// A malformed argument.
    Invalid(String),
    /// The service behind it did not answer in time; trying later may work.
    Unavailable(String),
    /// Not allowed: a host off the allowlist, a private address, failed TLS.
    Refused(String),
    /// Storage: another run wrote the key meanwhile.
    Conflict(String),
    /// The service answered with an error (a view method that panicked).
    Failed(String),
    /// A status this SDK does not know (a newer platform).
    Other(i64, String),
    /// The platform's answer is not what the ABI describes (a bug: please report it).
    BadAnswer(String),
}

impl Error {
    /// The error for a negative status, with the message in the result buffer.
    pub fn from_status(status: i64, message: String) -> Error {
        match status {
            status::NOT_FOUND => Error::NotFound(message),
            status::NOT_ENABLED => Error::NotEnabled(message),
            status::LIMIT => Error::Limit(message),
            status::QUOTA => Error::Quota(message),
            status::INVALID => Error::Invalid(message),
            status::UNAVAILABLE => Error::Unavailable(message),
            status::REFUSED => Error::Refused(message),
            status::CONFLICT => Error::Conflict(message),
            status::FAILED => Error::Failed(message),
            other => Error::Other(other, message),
        }
    }

    /// The ABI's status (0 for [`Error::BadAnswer`], which no host function returns).
    pub fn status(&self) -> i64 {
        match self {
            Error::NotFound(_) => status::NOT_FOUND,
            Error::NotEnabled(_) => status::NOT_ENABLED,
            Error::Limit(_) => status::LIMIT,
            Error::Quota(_) => status::QUOTA,
            Error::Invalid(_) => status::INVALID,
            Error::Unavailable(_) => status::UNAVAILABLE,
            Error::Refused(_) => status::REFUSED,
            Error::Conflict(_) => status::CONFLICT,
            Error::Failed(_) => status::FAILED,
            Error::Other(status, _) => *status,
            Error::BadAnswer(_) => 0,
        }
    }

    /// The ABI's name of the status: `NOT_FOUND`, `LIMIT`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "NOT_FOUND",
            Error::NotEnabled(_) => "NOT_ENABLED",
            Error::Limit(_) => "LIMIT",
            Error::Quota(_) => "QUOTA",
            Error::Invalid(_) => "INVALID",
            Error::Unavailable(_) => "UNAVAILABLE",
            Error::Refused(_) => "REFUSED",
            Error::Conflict(_) => "CONFLICT",
            Error::Failed(_) => "FAILED",
            Error::Other(..) => "UNKNOWN",
            Error::BadAnswer(_) => "BAD_ANSWER",
        }
    }

    /// What the platform said.
    pub fn message(&self) -> &str {
        match self {
            Error::NotFound(m)
            | Error::NotEnabled(m)
            | Error::Limit(m)
            | Error::Quota(m)
            | Error::Invalid(m)
            | Error::Unavailable(m)
            | Error::Refused(m)
            | Error::Conflict(m)
            | Error::Failed(m)
            | Error::Other(_, m)
            | Error::BadAnswer(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.status(), self.message())
    }
}

impl std::error::Error for Error {}

/// The result of a host call.
pub type Result<T> = std::result::Result<T, Error>;
