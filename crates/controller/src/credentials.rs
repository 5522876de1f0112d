//! Passwords and tokens: generated with the operating system's CSPRNG when the
//! user gives no Secret, and checked when they do.
//!
//! Generated secrets use letters and digits only: they survive every quoting
//! layer (my.cnf, `CHANGE MASTER TO`, environment variables, URLs) and the
//! replica's `utf8mb3` password storage, which silently mangles a NUL byte or
//! a character outside the Basic Multilingual Plane.

use std::collections::BTreeMap;

use drmysql_api::names::credentials;

/// Length of generated passwords and tokens. 32 letters and digits carry about
/// 190 bits.
pub const GENERATED_LENGTH: usize = 32;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A generation failure: the operating system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomSourceError(String);

/// A random string of [`GENERATED_LENGTH`] letters and digits, without bias
/// (rejection sampling over the OS CSPRNG).
pub fn generate_secret() -> Result<String, RandomSourceError> {
    // 62 symbols: accept bytes below 248 (4 × 62) so every symbol is equally likely.
    const LIMIT: u8 = (256 - 256 % ALPHABET.len()) as u8;
    let mut out = String::with_capacity(GENERATED_LENGTH);
    let mut buffer = [0u8; 64];
    while out.len() < GENERATED_LENGTH {
        getrandom::fill(&mut buffer).map_err(|error| RandomSourceError(error.to_string()))?;
        for byte in buffer {
            if byte < LIMIT && out.len() < GENERATED_LENGTH {
                out.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// Fresh values for every key a credentials Secret holds.
pub fn generate_credentials() -> Result<BTreeMap<String, String>, RandomSourceError> {
    credentials::REQUIRED_KEYS
        .iter()
        .map(|key| Ok(((*key).to_owned(), generate_secret()?)))
        .collect()
}

/// What is wrong with a user's credentials Secret: the keys it lacks or that
/// are empty, and keys whose value the replica could not use. Values are never
/// part of the message.
pub fn check_credentials(data: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut problems = Vec::new();
    for key in credentials::REQUIRED_KEYS {
        match data.get(key) {
            None => problems.push(format!("key {key} is missing")),
            Some(value) if value.is_empty() => problems.push(format!("key {key} is empty")),
            Some(value) => match std::str::from_utf8(value) {
                Err(_) => problems.push(format!("key {key} is not UTF-8")),
                Ok(text) if text.contains('\0') => problems.push(format!("key {key} contains a NUL byte")),
                Ok(text) if text.chars().any(|c| c.len_utf8() > 3) => problems.push(format!(
                    "key {key} contains a character outside the Basic Multilingual Plane, which MySQL's \
                     replica password storage mangles"
                )),
                Ok(_) => {}
            },
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_have_the_length_and_charset_rules() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let secret = generate_secret().expect("OS random source");
            assert_eq!(secret.len(), GENERATED_LENGTH);
            assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()), "{secret}");
            assert!(seen.insert(secret), "no repeats");
        }
        let credentials = generate_credentials().expect("OS random source");
        assert_eq!(credentials.len(), 3);
        let values: std::collections::BTreeSet<&String> = credentials.values().collect();
        assert_eq!(values.len(), 3, "each key gets its own value");
    }

    #[test]
    fn generated_symbols_are_spread_over_the_whole_alphabet() {
        let mut counts = [0usize; 62];
        for _ in 0..400 {
            for byte in generate_secret().expect("OS random source").bytes() {
                let index = ALPHABET.iter().position(|&c| c == byte).expect("in alphabet");
                counts[index] += 1;
            }
        }
        // 12 800 symbols over 62: about 206 each; a biased or truncated generator
        // would leave some far from it.
        assert!(
            counts.iter().all(|&count| (120..=300).contains(&count)),
            "{counts:?}"
        );
    }

    #[test]
    fn user_secrets_are_checked_without_revealing_values() {
        let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        data.insert("root-password".into(), b"s3cret".to_vec());
        data.insert("replication-password".into(), "emoji-🔑".as_bytes().to_vec());
        data.insert("heartbeat-password".into(), Vec::new());
        let problems = check_credentials(&data);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("replication-password") && problems[0].contains("Basic Multilingual"));
        assert_eq!(problems[1], "key heartbeat-password is empty");
        assert!(
            problems
                .iter()
                .all(|p| !p.contains("s3cret") && !p.contains("emoji"))
        );
        data.remove("root-password");
        assert!(check_credentials(&data).contains(&"key root-password is missing".to_owned()));
    }
}
