//! The iptables allow-list: which NodeConfig rules the agent will install, and
//! the one canonical spelling it installs them in.
//!
//! A NodeConfig rule is a string that ends up as iptables arguments on a node
//! with root powers, so it is parsed, never passed through: the rule is split
//! on whitespace, every token must be an allowed option or a well-formed value
//! of the option before it, and anything else (`-j DROP`, `--jump`,
//! `-m comment`, a second `-j`, a `;` or a `$(...)`) is refused with a message
//! naming the token. What is allowed is what Kosmos's handlers and drmysql's
//! network manager write: address, interface and protocol matches, a
//! destination port, ipset matches, and the NAT targets plus `RETURN` and
//! `ACCEPT`.
//!
//! The accepted rule is rendered back in the order and spelling `iptables -S`
//! prints (`-s` before `-d` before `-i`, `/32` added, `-m tcp` before
//! `--dport`, networks truncated), so the rule read back from the kernel
//! compares equal to the rule wanted and a second pass changes nothing.

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;

use super::model::{Family, NatChain};

/// The targets a rule may jump to.
pub const ALLOWED_TARGETS: [&str; 6] = ["MASQUERADE", "SNAT", "DNAT", "NETMAP", "RETURN", "ACCEPT"];

/// An accepted rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRule {
    source: Option<Negatable<IpNet>>,
    destination: Option<Negatable<IpNet>>,
    in_interface: Option<Negatable<String>>,
    out_interface: Option<Negatable<String>>,
    protocol: Option<Negatable<String>>,
    destination_port: Option<Negatable<String>>,
    set_matches: Vec<SetMatch>,
    target: Target,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Negatable<T> {
    negated: bool,
    value: T,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SetMatch {
    negated: bool,
    name: String,
    direction: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Masquerade,
    Snat(IpAddr),
    Dnat(IpAddr),
    Netmap(IpNet),
    Return,
    Accept,
}

impl ParsedRule {
    /// The address family: IPv6 when any address in the rule is IPv6.
    ///
    /// Kosmos treats a rule as IPv6 when its text contains `:`; that also
    /// catches a port range `1000:2000`, so the family is taken from the
    /// addresses instead, which agree with it for every rule Kosmos writes.
    pub fn family(&self) -> Family {
        if self.addresses().any(|ip| ip.is_ipv6()) {
            Family::V6
        } else {
            Family::V4
        }
    }

    fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let target = match &self.target {
            Target::Snat(ip) | Target::Dnat(ip) => Some(*ip),
            Target::Netmap(net) => Some(net.addr()),
            Target::Masquerade | Target::Return | Target::Accept => None,
        };
        self.source
            .iter()
            .chain(self.destination.iter())
            .map(|n| n.value.addr())
            .chain(target)
    }

    /// The rule in `iptables -S` form, without the `-A <chain>` prefix.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut option = |negated: bool, name: &str, value: &str| {
            if !out.is_empty() {
                out.push(' ');
            }
            if negated {
                out.push_str("! ");
            }
            let _ = write!(out, "{name} {value}");
        };
        if let Some(source) = &self.source {
            option(source.negated, "-s", &source.value.to_string());
        }
        if let Some(destination) = &self.destination {
            option(destination.negated, "-d", &destination.value.to_string());
        }
        if let Some(interface) = &self.in_interface {
            option(interface.negated, "-i", &interface.value);
        }
        if let Some(interface) = &self.out_interface {
            option(interface.negated, "-o", &interface.value);
        }
        if let Some(protocol) = &self.protocol {
            option(protocol.negated, "-p", &protocol.value);
            if let Some(port) = &self.destination_port {
                option(false, "-m", &protocol.value);
                option(port.negated, "--dport", &port.value);
            }
        }
        for set in &self.set_matches {
            option(false, "-m", "set");
            option(
                set.negated,
                "--match-set",
                &format!("{} {}", set.name, set.direction),
            );
        }
        match &self.target {
            Target::Masquerade => option(false, "-j", "MASQUERADE"),
            Target::Snat(ip) => option(false, "-j", &format!("SNAT --to-source {ip}")),
            Target::Dnat(ip) => option(false, "-j", &format!("DNAT --to-destination {ip}")),
            Target::Netmap(net) => option(false, "-j", &format!("NETMAP --to {net}")),
            Target::Return => option(false, "-j", "RETURN"),
            Target::Accept => option(false, "-j", "ACCEPT"),
        }
        out
    }
}

/// Parses `rule` for the nat `chain`, refusing anything outside the allow-list
/// with a message that names the offending token.
pub fn parse(chain: NatChain, rule: &str) -> Result<ParsedRule, String> {
    let tokens: Vec<&str> = rule.split_whitespace().collect();
    if tokens.is_empty() {
        return Err("the rule is empty".to_string());
    }
    for token in &tokens {
        if let Some(bad) = token.chars().find(|c| !is_allowed_char(*c)) {
            return Err(format!(
                "token `{token}` contains `{bad}`, which no allowed option or value uses"
            ));
        }
    }
    let mut parser = Parser {
        tokens: &tokens,
        position: 0,
    };
    let mut rule = Builder::default();
    while let Some(token) = parser.next() {
        let (negated, option) = if token == "!" {
            let option = parser
                .next()
                .ok_or("`!` at the end of the rule negates nothing")?;
            (true, option)
        } else {
            (false, token)
        };
        match option {
            "-s" => set_once(
                &mut rule.source,
                negated,
                parse_net(option, parser.value(option)?)?,
                option,
            )?,
            "-d" => set_once(
                &mut rule.destination,
                negated,
                parse_net(option, parser.value(option)?)?,
                option,
            )?,
            "-i" => {
                if chain == NatChain::Postrouting {
                    return Err("`-i` cannot match in POSTROUTING, where no input interface is known".into());
                }
                set_once(
                    &mut rule.in_interface,
                    negated,
                    interface(parser.value(option)?)?,
                    option,
                )?
            }
            "-o" => {
                if chain == NatChain::Prerouting {
                    return Err("`-o` cannot match in PREROUTING, before routing chose an interface".into());
                }
                set_once(
                    &mut rule.out_interface,
                    negated,
                    interface(parser.value(option)?)?,
                    option,
                )?
            }
            "-p" => set_once(
                &mut rule.protocol,
                negated,
                protocol(parser.value(option)?)?,
                option,
            )?,
            "--dport" => set_once(
                &mut rule.destination_port,
                negated,
                port(parser.value(option)?)?,
                option,
            )?,
            "-m" => {
                if negated {
                    return Err("`! -m` is not allowed; negate the match option instead".into());
                }
                parse_module(&mut parser, &mut rule)?;
            }
            "-j" => {
                if negated {
                    return Err("`! -j` is not allowed".into());
                }
                if rule.target.is_some() {
                    return Err("a second `-j` is not allowed".into());
                }
                rule.target = Some(parse_target(&mut parser, chain)?);
            }
            "!" => return Err("`! !` is not allowed".into()),
            other => {
                return Err(format!(
                    "`{other}` is not allowed; options are -s -d -i -o -p --dport -m set --match-set and -j"
                ));
            }
        }
    }
    rule.finish()
}

fn is_allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/' | '_' | '-' | '+' | '!')
}

struct Parser<'a> {
    tokens: &'a [&'a str],
    position: usize,
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let token = self.tokens.get(self.position).copied();
        self.position += 1;
        token
    }

    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.position).copied()
    }

    fn value(&mut self, option: &str) -> Result<&'a str, String> {
        match self.next() {
            Some(value) if value != "!" && !value.starts_with('-') => Ok(value),
            Some(value) => Err(format!("`{option}` needs a value, found `{value}`")),
            None => Err(format!("`{option}` needs a value")),
        }
    }
}

#[derive(Default)]
struct Builder {
    source: Option<Negatable<IpNet>>,
    destination: Option<Negatable<IpNet>>,
    in_interface: Option<Negatable<String>>,
    out_interface: Option<Negatable<String>>,
    protocol: Option<Negatable<String>>,
    destination_port: Option<Negatable<String>>,
    protocol_module: Option<String>,
    set_matches: Vec<SetMatch>,
    target: Option<Target>,
}

impl Builder {
    fn finish(self) -> Result<ParsedRule, String> {
        let target = self.target.ok_or("the rule has no `-j` target")?;
        if let Some(port) = &self.destination_port {
            match &self.protocol {
                Some(Negatable {
                    negated: false,
                    value,
                }) if matches!(value.as_str(), "tcp" | "udp" | "sctp") => {}
                _ => {
                    return Err(format!(
                        "`--dport {}` needs `-p tcp`, `-p udp` or `-p sctp` before it",
                        port.value
                    ));
                }
            }
        }
        if let Some(module) = &self.protocol_module {
            let protocol = self.protocol.as_ref().map(|p| p.value.as_str());
            if protocol != Some(module.as_str()) || self.destination_port.is_none() {
                return Err(format!(
                    "`-m {module}` is only allowed as `-p {module} -m {module} --dport`"
                ));
            }
        }
        let rule = ParsedRule {
            source: self.source,
            destination: self.destination,
            in_interface: self.in_interface,
            out_interface: self.out_interface,
            protocol: self.protocol.filter(|p| p.value != "all" || p.negated),
            destination_port: self.destination_port,
            set_matches: self.set_matches,
            target,
        };
        let families: Vec<Family> = rule.addresses().map(Family::of).collect();
        if families.windows(2).any(|pair| pair[0] != pair[1]) {
            return Err("the rule mixes IPv4 and IPv6 addresses".into());
        }
        Ok(rule)
    }
}

fn set_once<T>(slot: &mut Option<Negatable<T>>, negated: bool, value: T, option: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("`{option}` is given twice"));
    }
    *slot = Some(Negatable { negated, value });
    Ok(())
}

fn parse_net(option: &str, text: &str) -> Result<IpNet, String> {
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => text
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("`{option} {text}`: `{text}` is not an address or CIDR"))?,
    };
    Ok(net.trunc())
}

fn interface(text: &str) -> Result<String, String> {
    let name = text.strip_suffix('+').unwrap_or(text);
    let valid = !name.is_empty()
        && text.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!("`{text}` is not an interface name"))
    }
}

fn protocol(text: &str) -> Result<String, String> {
    let canonical = match text {
        "icmpv6" | "ipv6-icmp" => "ipv6-icmp",
        "tcp" | "udp" | "sctp" | "icmp" | "all" => text,
        _ => {
            return Err(format!(
                "protocol `{text}` is not allowed (tcp, udp, sctp, icmp, icmpv6, all)"
            ));
        }
    };
    Ok(canonical.to_string())
}

fn port(text: &str) -> Result<String, String> {
    let number = |part: &str| part.parse::<u16>().ok().filter(|p| *p > 0);
    let valid = match text.split_once(':') {
        Some((low, high)) => matches!((number(low), number(high)), (Some(l), Some(h)) if l <= h),
        None => number(text).is_some(),
    };
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!("`{text}` is not a port or port range"))
    }
}

fn parse_module(parser: &mut Parser<'_>, rule: &mut Builder) -> Result<(), String> {
    let module = parser.value("-m")?;
    match module {
        "set" => {
            let (negated, option) = match parser.next() {
                Some("!") => (true, parser.next()),
                other => (false, other),
            };
            if option != Some("--match-set") {
                return Err(format!(
                    "`-m set` must be followed by `--match-set`, found `{}`",
                    option.unwrap_or("")
                ));
            }
            let name = parser.value("--match-set")?;
            let valid_name = name.len() <= 31
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid_name {
                return Err(format!("`{name}` is not an ipset name"));
            }
            let direction = parser.value("--match-set")?;
            if !matches!(direction, "src" | "dst") {
                return Err(format!(
                    "`--match-set {name} {direction}`: the direction must be `src` or `dst`"
                ));
            }
            rule.set_matches.push(SetMatch {
                negated,
                name: name.to_string(),
                direction: direction.to_string(),
            });
            Ok(())
        }
        "tcp" | "udp" | "sctp" => {
            if rule.protocol_module.is_some() {
                return Err(format!("`-m {module}` is given twice"));
            }
            rule.protocol_module = Some(module.to_string());
            Ok(())
        }
        other => Err(format!(
            "match module `-m {other}` is not allowed (only `-m set`)"
        )),
    }
}

fn parse_target(parser: &mut Parser<'_>, chain: NatChain) -> Result<Target, String> {
    let name = parser.value("-j")?;
    let only_in = |allowed: &[NatChain]| -> Result<(), String> {
        if allowed.contains(&chain) {
            Ok(())
        } else {
            let names: Vec<&str> = allowed.iter().map(|c| c.builtin()).collect();
            Err(format!("target {name} is only valid in {}", names.join(" and ")))
        }
    };
    let mut option_value = |option: &str| -> Result<&str, String> {
        match parser.next() {
            Some(found) if found == option => parser.value(option),
            Some(found) => Err(format!("target {name} needs `{option}`, found `{found}`")),
            None => Err(format!("target {name} needs `{option}`")),
        }
    };
    let target = match name {
        "MASQUERADE" => {
            only_in(&[NatChain::Postrouting])?;
            Target::Masquerade
        }
        "SNAT" => {
            only_in(&[NatChain::Postrouting])?;
            let value = option_value("--to-source")?;
            Target::Snat(
                value
                    .parse()
                    .map_err(|_| format!("`--to-source {value}` needs one IP address"))?,
            )
        }
        "DNAT" => {
            only_in(&[NatChain::Prerouting, NatChain::Output])?;
            let value = option_value("--to-destination")?;
            Target::Dnat(
                value
                    .parse()
                    .map_err(|_| format!("`--to-destination {value}` needs one IP address"))?,
            )
        }
        "NETMAP" => {
            let value = option_value("--to")?;
            Target::Netmap(
                value
                    .parse::<IpNet>()
                    .map_err(|_| format!("`--to {value}` needs a CIDR"))?
                    .trunc(),
            )
        }
        "RETURN" => Target::Return,
        "ACCEPT" => Target::Accept,
        other => {
            return Err(format!(
                "target `-j {other}` is not allowed (allowed: {})",
                ALLOWED_TARGETS.join(", ")
            ));
        }
    };
    if let Some(extra) = parser.peek()
        && extra != "-j"
        && extra != "!"
        && !is_match_option(extra)
    {
        return Err(format!("`{extra}` after the target {name} is not allowed"));
    }
    Ok(target)
}

fn is_match_option(token: &str) -> bool {
    matches!(token, "-s" | "-d" | "-i" | "-o" | "-p" | "--dport" | "-m")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(chain: NatChain, rule: &str) -> String {
        parse(chain, rule).expect("rule is allowed").render()
    }

    fn refused(chain: NatChain, rule: &str) -> String {
        match parse(chain, rule) {
            Ok(parsed) => panic!("`{rule}` must be refused, parsed as {parsed:?}"),
            Err(message) => message,
        }
    }

    #[test]
    fn kosmos_rules_are_allowed_and_rendered_as_iptables_prints_them() {
        use NatChain::*;
        assert_eq!(
            canonical(Postrouting, "-s 210.0.0.0/8 -o vx-bridge -j MASQUERADE"),
            "-s 210.0.0.0/8 -o vx-bridge -j MASQUERADE"
        );
        assert_eq!(
            canonical(Postrouting, "-s 220.0.0.0/8 -j MASQUERADE"),
            "-s 220.0.0.0/8 -j MASQUERADE"
        );
        assert_eq!(
            canonical(
                Prerouting,
                "-d 10.100.0.0/16 -i vx-bridge -j NETMAP --to 10.1.0.0/16"
            ),
            "-d 10.100.0.0/16 -i vx-bridge -j NETMAP --to 10.1.0.0/16"
        );
        assert_eq!(
            canonical(
                Postrouting,
                "-s 10.1.0.0/16 -o vx-bridge -j SNAT --to-source 10.100.0.0"
            ),
            "-s 10.1.0.0/16 -o vx-bridge -j SNAT --to-source 10.100.0.0"
        );
        assert_eq!(
            canonical(Postrouting, "-m set --match-set drmysql-avoid-masq dst -j RETURN"),
            "-m set --match-set drmysql-avoid-masq dst -j RETURN"
        );
    }

    #[test]
    fn canonical_form_follows_iptables_order_and_spelling() {
        use NatChain::*;
        assert_eq!(
            canonical(
                Postrouting,
                "-o vx -p tcp --dport 80 ! -d 1.2.3.4 -s 10.1.2.3/16 -j SNAT --to-source 1.1.1.1"
            ),
            "-s 10.1.0.0/16 ! -d 1.2.3.4/32 -o vx -p tcp -m tcp --dport 80 -j SNAT --to-source 1.1.1.1"
        );
        assert_eq!(canonical(Output, "-p all -j ACCEPT"), "-j ACCEPT");
        assert_eq!(
            canonical(Output, "-p icmpv6 -d fd00::1 -j RETURN"),
            "-d fd00::1/128 -p ipv6-icmp -j RETURN"
        );
        assert_eq!(
            canonical(Prerouting, "-d 10.0.0.0/8 -j NETMAP --to 192.168.0.0/8"),
            "-d 10.0.0.0/8 -j NETMAP --to 192.0.0.0/8"
        );
        assert_eq!(
            canonical(
                Postrouting,
                "-m set ! --match-set s src -p udp ! --dport 53 -j RETURN"
            ),
            "-p udp -m udp ! --dport 53 -m set ! --match-set s src -j RETURN"
        );
    }

    #[test]
    fn the_canonical_form_parses_back_to_itself() {
        for (chain, rule) in [
            (
                NatChain::Postrouting,
                "-s 10.1.0.0/16 ! -d 1.2.3.4/32 -o vx -p tcp -m tcp --dport 80 -j SNAT --to-source 1.1.1.1",
            ),
            (
                NatChain::Postrouting,
                "-p udp -m udp ! --dport 53 -m set ! --match-set s src -j RETURN",
            ),
            (
                NatChain::Prerouting,
                "-d fd00::/64 -i vx-bridge-6 -j DNAT --to-destination fd01::1",
            ),
        ] {
            assert_eq!(canonical(chain, rule), rule);
        }
    }

    #[test]
    fn family_comes_from_the_addresses() {
        let v6 = parse(NatChain::Postrouting, "-s 9470::/16 -o vx-bridge-6 -j MASQUERADE").expect("allowed");
        assert_eq!(v6.family(), Family::V6);
        let v4 = parse(NatChain::Postrouting, "-p tcp --dport 1000:2000 -j MASQUERADE").expect("allowed");
        assert_eq!(v4.family(), Family::V4);
        assert!(
            refused(NatChain::Postrouting, "-s 10.0.0.0/8 -j SNAT --to-source fd00::1").contains("mixes")
        );
    }

    #[test]
    fn forbidden_targets_and_options_are_named() {
        use NatChain::*;
        assert!(refused(Postrouting, "-s 10.0.0.0/8 -j DROP").contains("`-j DROP`"));
        assert!(refused(Postrouting, "-s 10.0.0.0/8 --jump MASQUERADE").contains("`--jump`"));
        assert!(refused(Postrouting, "-m comment --comment x -j RETURN").contains("`-m comment`"));
        assert!(refused(Postrouting, "-j RETURN -j ACCEPT").contains("second `-j`"));
        assert!(refused(Postrouting, "-s 10.0.0.0/8 -j MASQUERADE;reboot").contains("`;`"));
        assert!(refused(Postrouting, "-s $(reboot) -j RETURN").contains("`$`"));
        assert!(refused(Postrouting, "-s 10.0.0.0/8 -j MASQUERADE --to-ports 80").contains("`--to-ports`"));
        assert!(refused(Postrouting, "-s 10.0.0.0/8").contains("no `-j`"));
        assert!(refused(Postrouting, "").contains("empty"));
        assert!(refused(Postrouting, "-t filter -j ACCEPT").contains("`-t`"));
        assert!(refused(Postrouting, "-A POSTROUTING -j ACCEPT").contains("`-A`"));
    }

    #[test]
    fn values_are_checked() {
        use NatChain::*;
        assert!(refused(Postrouting, "-s 10.0.0.300/8 -j RETURN").contains("10.0.0.300/8"));
        assert!(refused(Postrouting, "-s -j RETURN").contains("`-s` needs a value"));
        assert!(refused(Postrouting, "-o averyveryverylongname -j RETURN").contains("interface"));
        assert!(refused(Postrouting, "-p gre -j RETURN").contains("protocol `gre`"));
        assert!(refused(Postrouting, "--dport 80 -j RETURN").contains("needs `-p tcp`"));
        assert!(refused(Postrouting, "! -p tcp --dport 80 -j RETURN").contains("needs `-p tcp`"));
        assert!(refused(Postrouting, "-p tcp --dport 0 -j RETURN").contains("port"));
        assert!(refused(Postrouting, "-m set --match-set x both -j RETURN").contains("`src` or `dst`"));
        assert!(refused(Postrouting, "-j SNAT --to-source 10.0.0.0/8").contains("one IP address"));
        assert!(refused(Prerouting, "-j NETMAP --to nowhere").contains("CIDR"));
        assert!(refused(Postrouting, "-s 10.0.0.0/8 -s 10.1.0.0/16 -j RETURN").contains("twice"));
    }

    #[test]
    fn targets_and_interfaces_must_fit_the_chain() {
        use NatChain::*;
        assert!(refused(Prerouting, "-j MASQUERADE").contains("only valid in POSTROUTING"));
        assert!(refused(Prerouting, "-j SNAT --to-source 1.1.1.1").contains("only valid in POSTROUTING"));
        assert!(refused(Postrouting, "-j DNAT --to-destination 1.1.1.1").contains("PREROUTING and OUTPUT"));
        assert!(refused(Postrouting, "-i eth0 -j RETURN").contains("`-i`"));
        assert!(refused(Prerouting, "-o eth0 -j RETURN").contains("`-o`"));
        assert_eq!(
            canonical(Output, "-d 10.0.0.1 -j DNAT --to-destination 2.2.2.2"),
            "-d 10.0.0.1/32 -j DNAT --to-destination 2.2.2.2"
        );
    }

    #[test]
    fn negation_is_allowed_on_matches_only() {
        use NatChain::*;
        assert_eq!(
            canonical(Postrouting, "! -o vx -j MASQUERADE"),
            "! -o vx -j MASQUERADE"
        );
        assert!(refused(Postrouting, "! -j ACCEPT").contains("`! -j`"));
        assert!(refused(Postrouting, "-j ACCEPT !").contains("negates nothing"));
        assert!(refused(Postrouting, "! ! -s 1.1.1.1 -j ACCEPT").contains("`! !`"));
    }

    const VOCABULARY: &[&str] = &[
        "-s",
        "10.1.2.3/16",
        "-d",
        "fd00::1",
        "1.1.1.1",
        "-o",
        "vx-bridge",
        "-i",
        "eth0",
        "-p",
        "tcp",
        "udp",
        "all",
        "--dport",
        "80",
        "1000:2000",
        "-m",
        "set",
        "--match-set",
        "name",
        "src",
        "dst",
        "!",
        "-j",
        "MASQUERADE",
        "SNAT",
        "--to-source",
        "DNAT",
        "--to-destination",
        "NETMAP",
        "--to",
        "10.0.0.0/8",
        "RETURN",
        "ACCEPT",
        "DROP",
        ";",
        "--jump",
    ];

    proptest::proptest! {
        /// Whatever a NodeConfig holds, parsing never panics, and an accepted
        /// rule renders to a canonical form that parses back to itself.
        #[test]
        fn any_rule_is_refused_or_canonical(
            tokens in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..14)
        ) {
            let rule = tokens.join(" ");
            for chain in NatChain::ALL {
                if let Ok(parsed) = parse(chain, &rule) {
                    let canonical = parsed.render();
                    let again = parse(chain, &canonical).map(|p| p.render());
                    proptest::prop_assert_eq!(again, Ok(canonical));
                }
            }
        }
    }
}
