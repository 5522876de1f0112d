//! Quoting for the few places where the server accepts no parameter.
//!
//! `CHANGE MASTER TO` / `CHANGE REPLICATION SOURCE TO` options, `CREATE USER`
//! passwords and account names must be literals. Every byte that could end a
//! literal or confuse the parser is escaped, and the connection always speaks
//! `utf8mb4` so that a non-ASCII password arrives as written.

/// A single-quoted SQL string literal for `value`, safe whatever it contains.
///
/// The quote is doubled, and backslash, NUL, newline, carriage return and Ctrl-Z
/// are written as backslash escapes. Backslash escapes need a session without
/// `NO_BACKSLASH_ESCAPES`; every drmysql connection sets its own session
/// `sql_mode` to [`crate::dialect::SESSION_SQL_MODE`], which never has it.
pub fn string_literal(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for character in value.chars() {
        match character {
            '\'' => quoted.push_str("''"),
            '\\' => quoted.push_str("\\\\"),
            '\0' => quoted.push_str("\\0"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\u{1a}' => quoted.push_str("\\Z"),
            other => quoted.push(other),
        }
    }
    quoted.push('\'');
    quoted
}

/// A backquoted identifier for `name`, with embedded backquotes doubled.
pub fn identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// An account name, `'user'@'host'`.
pub fn account(user: &str, host: &str) -> String {
    format!("{}@{}", string_literal(user), string_literal(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_strings_are_escaped() {
        let cases = [
            ("plain", "'plain'"),
            ("it's", "'it''s'"),
            ("back\\slash", "'back\\\\slash'"),
            ("\\'; DROP TABLE t; --", "'\\\\''; DROP TABLE t; --'"),
            ("nul\0byte", "'nul\\0byte'"),
            ("line\nbreak\r", "'line\\nbreak\\r'"),
            ("ctrl\u{1a}z", "'ctrl\\Zz'"),
            ("pässwörd-密码-🔑", "'pässwörd-密码-🔑'"),
            ("", "''"),
        ];
        for (raw, expected) in cases {
            assert_eq!(string_literal(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn identifiers_and_accounts() {
        assert_eq!(identifier("drmysql"), "`drmysql`");
        assert_eq!(identifier("we`ird"), "`we``ird`");
        assert_eq!(account("repl", "%"), "'repl'@'%'");
        assert_eq!(account("o'neil", "10.0.0.%"), "'o''neil'@'10.0.0.%'");
    }
}
