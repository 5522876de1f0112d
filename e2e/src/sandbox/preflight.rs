//! What the sandbox needs from the machine, checked before anything is
//! created, so that a missing part is one clear message naming it (and the
//! package that has it) instead of a failure halfway through.

use super::error::SandboxError;
use crate::kubelet::command::which;

/// The programs the sandbox and its components run, with their Debian package.
const PROGRAMS: [(&str, &str); 9] = [
    ("ip", "iproute2"),
    ("bridge", "iproute2"),
    ("iptables", "iptables"),
    ("iptables-save", "iptables"),
    ("iptables-restore", "iptables"),
    ("ip6tables-restore", "iptables"),
    ("ipset", "ipset"),
    ("mariadbd", "mariadb-server"),
    ("mariadb-install-db", "mariadb-server"),
];

/// The missing things, given whether we run as root and a lookup of programs.
pub fn missing(is_root: bool, found: impl Fn(&str) -> bool) -> Vec<String> {
    let mut missing = Vec::new();
    if !is_root {
        missing.push("root (it creates network namespaces, VXLAN devices and iptables rules)".to_owned());
    }
    for (program, package) in PROGRAMS {
        if !found(program) {
            missing.push(format!("`{program}` (package {package})"));
        }
    }
    missing
}

/// Fails naming everything the machine lacks.
pub fn check() -> Result<(), SandboxError> {
    let is_root = nix::unistd::geteuid().is_root();
    let missing = missing(is_root, |program| which(program).is_some());
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SandboxError::Missing(missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_missing_is_named_with_its_package() {
        let missing = missing(false, |program| program != "mariadbd");
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing[0].starts_with("root"));
        assert_eq!(missing[1], "`mariadbd` (package mariadb-server)");
        let message = SandboxError::Missing(missing).to_string();
        assert!(message.contains("scripts/install-deps"), "{message}");
        assert!(super::missing(true, |_| true).is_empty());
    }
}
