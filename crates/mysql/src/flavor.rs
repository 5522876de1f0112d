//! Which server drmysql is talking to.
//!
//! MySQL 8.0, MySQL 8.4 and MariaDB differ in replication statements, status
//! columns, GTID functions, semi-sync variables and read-only fencing. The
//! flavor is detected from `SELECT VERSION()` once per connection, never from
//! an image name, and everything flavor-specific hangs off it.

use std::fmt;

use crate::error::Error;

/// A server flavor drmysql supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// MySQL 8.0.26 or later (the first with the `replica`/`source` names throughout).
    MySql80,
    /// MySQL 8.4 or later, where the `SLAVE`/`MASTER` statements are gone.
    MySql84,
    /// MariaDB 10.6 or later, including 11.x.
    MariaDb,
}

impl Flavor {
    /// Whether this is a MariaDB server.
    pub fn is_mariadb(self) -> bool {
        self == Self::MariaDb
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MySql80 => "MySQL 8.0",
            Self::MySql84 => "MySQL 8.4",
            Self::MariaDb => "MariaDB",
        })
    }
}

/// A server version, as reported by `SELECT VERSION()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerVersion {
    /// The whole `VERSION()` string, e.g. `10.11.6-MariaDB-0+deb12u1-log`.
    pub text: String,
    /// Major, minor and patch numbers.
    pub number: (u32, u32, u32),
    /// The flavor these imply.
    pub flavor: Flavor,
}

impl ServerVersion {
    /// Parses a `VERSION()` string and decides the flavor, refusing versions
    /// drmysql does not support with an error that says which are.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let unsupported = |reason: &str| Error::UnsupportedServer {
            version: text.to_owned(),
            reason: reason.to_owned(),
        };
        let numeric = text.split(['-', '+', ' ']).next().unwrap_or_default();
        let mut parts = numeric.split('.').map(|part| part.parse::<u32>());
        let (Some(Ok(major)), Some(Ok(minor)), Some(Ok(patch))) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(unsupported("the version number is not MAJOR.MINOR.PATCH"));
        };
        let number = (major, minor, patch);
        // MariaDB 10.x and 11.x say so; older MariaDB builds put "5.5.5-" in front.
        let flavor = if text.to_ascii_lowercase().contains("mariadb") {
            if number < (10, 6, 0) {
                return Err(unsupported("MariaDB 10.6 or later is required"));
            }
            Flavor::MariaDb
        } else if number >= (8, 4, 0) {
            Flavor::MySql84
        } else if number >= (8, 0, 26) {
            Flavor::MySql80
        } else {
            return Err(unsupported("MySQL 8.0.26 or later is required"));
        };
        Ok(Self {
            text: text.to_owned(),
            number,
            flavor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_to_flavors() {
        let cases = [
            ("10.11.6-MariaDB-0+deb12u1-log", Flavor::MariaDb, (10, 11, 6)),
            ("11.4.2-MariaDB-ubu2404", Flavor::MariaDb, (11, 4, 2)),
            ("10.6.18-MariaDB", Flavor::MariaDb, (10, 6, 18)),
            ("8.0.36", Flavor::MySql80, (8, 0, 36)),
            ("8.0.26-commercial", Flavor::MySql80, (8, 0, 26)),
            ("8.4.0", Flavor::MySql84, (8, 4, 0)),
            ("9.1.0", Flavor::MySql84, (9, 1, 0)),
        ];
        for (text, flavor, number) in cases {
            let version = ServerVersion::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
            assert_eq!((version.flavor, version.number), (flavor, number), "{text}");
        }
    }

    #[test]
    fn unsupported_versions_say_what_is_required() {
        for (text, needle) in [
            ("10.5.9-MariaDB", "MariaDB 10.6 or later"),
            ("8.0.25", "MySQL 8.0.26 or later"),
            ("5.7.44-log", "MySQL 8.0.26 or later"),
            ("garbage", "MAJOR.MINOR.PATCH"),
        ] {
            let error = ServerVersion::parse(text).expect_err(text).to_string();
            assert!(error.contains(needle) && error.contains(text), "{text}: {error}");
        }
    }
}
