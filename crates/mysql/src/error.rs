//! Errors of the replication engine.
//!
//! Every error names the server (`host:port`) and the operation, so a condition
//! or an Event built from it tells an operator where to look. No error carries
//! statement text: some statements hold passwords.

use std::time::Duration;

/// MySQL error codes for a refused login.
const ACCESS_DENIED_CODES: [u16; 3] = [1045, 1698, 1044];

/// Why an operation on a server failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TCP connection or the MySQL handshake failed.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// `host:port`.
        endpoint: String,
        /// The client library's error.
        #[source]
        source: mysql_async::Error,
    },

    /// The server refused the credentials.
    #[error("{endpoint} refused the login of user {user:?}: {message}")]
    Authentication {
        /// `host:port`.
        endpoint: String,
        /// The user that was refused.
        user: String,
        /// The server's message.
        message: String,
    },

    /// A connect or a statement did not finish in time. The connection is
    /// unusable afterwards; drop it.
    #[error("{operation} on {endpoint} did not finish within {after:?}")]
    Timeout {
        /// `host:port`.
        endpoint: String,
        /// What was being done.
        operation: String,
        /// The bound that expired.
        after: Duration,
    },

    /// A statement failed.
    #[error("{operation} on {endpoint} failed: {source}")]
    Query {
        /// `host:port`.
        endpoint: String,
        /// What was being done (never the statement text).
        operation: String,
        /// The client library's error, with the server's code and message.
        #[source]
        source: mysql_async::Error,
    },

    /// The server's version is not one drmysql supports.
    #[error("unsupported server version {version:?}: {reason}")]
    UnsupportedServer {
        /// The `VERSION()` string.
        version: String,
        /// What is required instead.
        reason: String,
    },

    /// A setting replication depends on is missing or wrong.
    #[error("{endpoint}: {setting} must be {expected} for GTID replication, but it is {actual}")]
    Prerequisite {
        /// `host:port`.
        endpoint: String,
        /// The server variable.
        setting: String,
        /// The value drmysql needs.
        expected: String,
        /// The value the server has.
        actual: String,
    },

    /// A password the server's replication client cannot use.
    #[error("the password of account {user:?} cannot be used for replication: {reason}")]
    UnusablePassword {
        /// The account.
        user: String,
        /// Why.
        reason: String,
    },

    /// A GTID set or position could not be parsed.
    #[error("invalid GTID text {text:?}: {reason}")]
    InvalidGtid {
        /// The text.
        text: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The server answered something drmysql cannot interpret.
    #[error("{operation} on {endpoint} returned something unexpected: {detail}")]
    UnexpectedResult {
        /// `host:port`.
        endpoint: String,
        /// What was being done.
        operation: String,
        /// What was wrong with the answer.
        detail: String,
    },

    /// A step reported success but reading back its effect showed otherwise.
    #[error("{endpoint}: {what}")]
    NotApplied {
        /// `host:port`.
        endpoint: String,
        /// What did not take effect.
        what: String,
    },

    /// A replica did not reach a GTID position within the wait.
    #[error("{endpoint} did not reach GTID position {position:?} within {after:?}")]
    CatchUpTimeout {
        /// `host:port`.
        endpoint: String,
        /// The position waited for.
        position: String,
        /// The wait.
        after: Duration,
    },
}

impl Error {
    /// Whether the server refused the credentials.
    pub fn is_authentication(&self) -> bool {
        matches!(self, Self::Authentication { .. })
    }

    /// Whether a bound expired.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::CatchUpTimeout { .. })
    }

    /// The server's error code, for a failed statement or handshake.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            Self::Connect { source, .. } | Self::Query { source, .. } => server_code(source),
            _ => None,
        }
    }

    /// The error for a failed connect: an authentication error when the server
    /// refused the login, a connect error otherwise.
    pub(crate) fn from_connect(endpoint: &str, user: &str, source: mysql_async::Error) -> Self {
        match &source {
            mysql_async::Error::Server(server) if ACCESS_DENIED_CODES.contains(&server.code) => {
                Self::Authentication {
                    endpoint: endpoint.to_owned(),
                    user: user.to_owned(),
                    message: server.message.clone(),
                }
            }
            _ => Self::Connect {
                endpoint: endpoint.to_owned(),
                source,
            },
        }
    }
}

fn server_code(error: &mysql_async::Error) -> Option<u16> {
    match error {
        mysql_async::Error::Server(server) => Some(server.code),
        _ => None,
    }
}
