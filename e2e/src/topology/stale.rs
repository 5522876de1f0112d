//! Recognising what a killed earlier run left behind: namespaces named
//! `<prefix>-<pid>-…` whose pid no longer runs. Their underlay namespace
//! takes the root-side veth with it, so namespaces are all there is to remove.

use std::path::Path;

use super::plan::owner_pid;

/// The namespace names in `ip netns list` output (`name` or
/// `name (id: 3)` per line).
pub fn listed_netns(listing: &str) -> Vec<&str> {
    listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

/// The namespaces of `listing` that carry `prefix` and the pid of a process
/// for which `alive` says no.
pub fn stale_netns<'a>(prefix: &str, listing: &'a str, alive: impl Fn(u32) -> bool) -> Vec<&'a str> {
    listed_netns(listing)
        .into_iter()
        .filter(|name| owner_pid(prefix, name).is_some_and(|pid| !alive(pid)))
        .collect()
}

/// Whether process `pid` exists (in this machine's pid namespace).
pub fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_of_dead_owners_with_the_prefix_are_stale() {
        let listing = "sbx-100-0-host-n1 (id: 4)\nsbx-100-0-ul (id: 3)\nsbx-200-0-ul\n\
                       other-100-0-ul\nsbx-x-100-0-ul\n";
        let alive = |pid: u32| pid == 200;
        assert_eq!(
            stale_netns("sbx", listing, alive),
            ["sbx-100-0-host-n1", "sbx-100-0-ul"]
        );
        assert!(stale_netns("sbx", "", alive).is_empty());
    }

    #[test]
    fn this_process_is_alive() {
        assert!(pid_alive(std::process::id()));
    }
}
