//! Placement constraints: parsing Docker's `key==value` / `key!=value` syntax and matching one
//! node. Follows swarmkit's `manager/constraint`: keys are case-insensitive except the label
//! name, values compare case-insensitively. Knows nothing of batches or indexes.

use std::fmt;
use std::net::IpAddr;

use crate::error::ScheduleError;
use crate::model::Node;

const NODE_LABEL_PREFIX: &str = "node.labels.";
const ENGINE_LABEL_PREFIX: &str = "engine.labels.";

/// `==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// The node's value must equal the constraint's.
    Eq,
    /// The node's value must differ (a missing label differs from everything).
    NotEq,
}

/// The node attribute a constraint looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConstraintKey {
    /// `node.id`.
    NodeId,
    /// `node.hostname`.
    NodeHostname,
    /// `node.role`.
    NodeRole,
    /// `node.ip` (an address or a CIDR network).
    NodeIp,
    /// `node.platform.os`.
    NodePlatformOs,
    /// `node.platform.arch`.
    NodePlatformArch,
    /// `node.labels.<name>`; the name is case-sensitive.
    NodeLabel(String),
    /// `engine.labels.<name>`; the name is case-sensitive.
    EngineLabel(String),
}

impl ConstraintKey {
    pub(crate) fn parse(key: &str) -> Option<ConstraintKey> {
        let fixed = [
            ("node.id", ConstraintKey::NodeId),
            ("node.hostname", ConstraintKey::NodeHostname),
            ("node.role", ConstraintKey::NodeRole),
            ("node.ip", ConstraintKey::NodeIp),
            ("node.platform.os", ConstraintKey::NodePlatformOs),
            ("node.platform.arch", ConstraintKey::NodePlatformArch),
        ];
        if let Some((_, k)) = fixed.into_iter().find(|(n, _)| key.eq_ignore_ascii_case(n)) {
            return Some(k);
        }
        if let Some(name) = strip_prefix_ignore_case(key, NODE_LABEL_PREFIX) {
            return Some(ConstraintKey::NodeLabel(name.to_owned()));
        }
        strip_prefix_ignore_case(key, ENGINE_LABEL_PREFIX)
            .map(|name| ConstraintKey::EngineLabel(name.to_owned()))
    }

    /// The node's value for this key; a missing label reads as "" (as in swarmkit).
    /// `node.ip` has no text value and reads as "".
    pub fn value_of<'n>(&self, node: &'n Node) -> &'n str {
        match self {
            ConstraintKey::NodeId => &node.id,
            ConstraintKey::NodeHostname => &node.hostname,
            ConstraintKey::NodeRole => node.role.as_str(),
            ConstraintKey::NodeIp => "",
            ConstraintKey::NodePlatformOs => &node.platform.os,
            ConstraintKey::NodePlatformArch => &node.platform.arch,
            ConstraintKey::NodeLabel(name) => node.labels.get(name).map_or("", String::as_str),
            ConstraintKey::EngineLabel(name) => {
                node.engine_labels.get(name).map_or("", String::as_str)
            }
        }
    }
}

/// Returns the rest of `s` after `prefix` (compared case-insensitively), if the rest is non-empty.
pub(crate) fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    let rest = &s[prefix.len()..];
    (head.eq_ignore_ascii_case(prefix) && !rest.is_empty()).then_some(rest)
}

/// An address or network a `node.ip` constraint compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct IpNet {
    addr: IpAddr,
    /// `None` for a single address.
    prefix: Option<u8>,
}

impl IpNet {
    fn parse(value: &str) -> Option<IpNet> {
        if let Ok(addr) = value.parse::<IpAddr>() {
            return Some(IpNet {
                addr: addr.to_canonical(),
                prefix: None,
            });
        }
        let (addr, len) = value.split_once('/')?;
        let addr = addr.parse::<IpAddr>().ok()?;
        let len = len.parse::<u8>().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (len <= max).then_some(IpNet {
            addr: addr.to_canonical(),
            prefix: Some(len),
        })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let Some(len) = self.prefix else {
            return ip == self.addr;
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// One parsed placement constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Constraint {
    key: ConstraintKey,
    operator: Operator,
    value: String,
    /// The key as written (trimmed), for explanations.
    written_key: String,
    ip: Option<IpNet>,
}

impl Constraint {
    /// Parses one constraint in Docker's syntax: `key==value` or `key!=value`, spaces around
    /// either part ignored. Fails on a missing operator, a malformed key or value, a key that
    /// names no node attribute, or a `node.ip` value that is no address or network.
    pub fn parse(text: &str) -> Result<Constraint, ScheduleError> {
        // swarmkit tries `==` before `!=` and splits at the first occurrence.
        let (operator, (key, value)) = [("==", Operator::Eq), ("!=", Operator::NotEq)]
            .into_iter()
            .find_map(|(op, operator)| text.split_once(op).map(|parts| (operator, parts)))
            .ok_or_else(|| ScheduleError::MissingOperator {
                constraint: text.to_owned(),
            })?;
        let (key, value) = (key.trim(), value.trim());
        if !is_valid_key(key) {
            return Err(ScheduleError::InvalidKey {
                key: key.to_owned(),
            });
        }
        if !is_valid_value(value) {
            return Err(ScheduleError::InvalidValue {
                value: value.to_owned(),
            });
        }
        let parsed_key =
            ConstraintKey::parse(key).ok_or_else(|| ScheduleError::UnsupportedKey {
                key: key.to_owned(),
            })?;
        let ip = match parsed_key {
            ConstraintKey::NodeIp => {
                Some(
                    IpNet::parse(value).ok_or_else(|| ScheduleError::InvalidAddress {
                        value: value.to_owned(),
                    })?,
                )
            }
            _ => None,
        };
        Ok(Constraint {
            key: parsed_key,
            operator,
            value: value.to_owned(),
            written_key: key.to_owned(),
            ip,
        })
    }

    /// The attribute the constraint looks at.
    pub fn key(&self) -> &ConstraintKey {
        &self.key
    }

    /// `==` or `!=`.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The value right of the operator, trimmed.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether `node` satisfies the constraint.
    pub fn matches(&self, node: &Node) -> bool {
        let equal = match &self.ip {
            Some(net) => node.addr.is_some_and(|addr| net.contains(addr)),
            // swarmkit compares with strings.EqualFold; values are ASCII by the value pattern.
            None => self.key.value_of(node).eq_ignore_ascii_case(&self.value),
        };
        match self.operator {
            Operator::Eq => equal,
            Operator::NotEq => !equal,
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            Operator::Eq => "==",
            Operator::NotEq => "!=",
        };
        write!(f, "{}{}{}", self.written_key, op, self.value)
    }
}

/// Parses a task's constraints; the first invalid one is the error.
pub fn parse_constraints(texts: &[String]) -> Result<Vec<Constraint>, ScheduleError> {
    texts.iter().map(|t| Constraint::parse(t)).collect()
}

/// swarmkit's key pattern `^(?i)[a-z_][a-z0-9\-_.]+$`: at least two characters.
fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest: Vec<char> = chars.collect();
    first_ok
        && !rest.is_empty()
        && rest
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// swarmkit's value pattern: letters, digits, whitespace and `:-_.*()?+[]\^$|/`; no operator
/// characters such as `=`, `<`, `>`, `~`.
fn is_valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
                || ":-_.*()?+[]\\^$|/".contains(c)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Platform, Role};

    fn node() -> Node {
        let mut n = Node {
            id: "abc123".into(),
            hostname: "Worker-1".into(),
            role: Role::Manager,
            addr: Some("10.0.1.7".parse().unwrap()),
            platform: Platform::new("linux", "x86_64"),
            ..Node::default()
        };
        n.labels.insert("zone".into(), "East".into());
        n.labels.insert("Disk".into(), "ssd".into());
        n.engine_labels.insert("storage".into(), "fast".into());
        n
    }

    #[test]
    fn valid_constraints_parse_into_key_operator_and_value() {
        let cases: &[(&str, ConstraintKey, Operator, &str)] = &[
            ("node.id==abc", ConstraintKey::NodeId, Operator::Eq, "abc"),
            (
                " node.hostname != h1 ",
                ConstraintKey::NodeHostname,
                Operator::NotEq,
                "h1",
            ),
            (
                "NODE.ROLE==manager",
                ConstraintKey::NodeRole,
                Operator::Eq,
                "manager",
            ),
            (
                "node.platform.os==linux",
                ConstraintKey::NodePlatformOs,
                Operator::Eq,
                "linux",
            ),
            (
                "Node.Platform.Arch!=arm64",
                ConstraintKey::NodePlatformArch,
                Operator::NotEq,
                "arm64",
            ),
            (
                "node.labels.zone==east",
                ConstraintKey::NodeLabel("zone".into()),
                Operator::Eq,
                "east",
            ),
            (
                "NODE.LABELS.Zone==east",
                ConstraintKey::NodeLabel("Zone".into()),
                Operator::Eq,
                "east",
            ),
            (
                "engine.labels.a.b-c==x y",
                ConstraintKey::EngineLabel("a.b-c".into()),
                Operator::Eq,
                "x y",
            ),
            (
                "node.labels.re==[a-b]+c*(n|b)/",
                ConstraintKey::NodeLabel("re".into()),
                Operator::Eq,
                "[a-b]+c*(n|b)/",
            ),
            (
                "node.ip==10.0.0.0/8",
                ConstraintKey::NodeIp,
                Operator::Eq,
                "10.0.0.0/8",
            ),
            (
                "node.ip!=2001:db8::2",
                ConstraintKey::NodeIp,
                Operator::NotEq,
                "2001:db8::2",
            ),
        ];
        for (text, key, op, value) in cases {
            let c = Constraint::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (c.key(), c.operator(), c.value()),
                (key, *op, *value),
                "{text}"
            );
        }
    }

    #[test]
    fn invalid_constraints_are_errors_naming_the_bad_part() {
        let missing = |c: &str| ScheduleError::MissingOperator {
            constraint: c.into(),
        };
        let key = |k: &str| ScheduleError::InvalidKey { key: k.into() };
        let value = |v: &str| ScheduleError::InvalidValue { value: v.into() };
        let cases: &[(&str, ScheduleError)] = &[
            ("", missing("")),
            ("node.labels.zone", missing("node.labels.zone")),
            ("node.role ~ manager", missing("node.role ~ manager")),
            ("node.role=manager", missing("node.role=manager")),
            ("1node==a", key("1node")),
            ("no de==a", key("no de")),
            ("no*de==a", key("no*de")),
            ("==a", key("")),
            ("n==a", key("n")),
            ("node.role==", value("")),
            ("node.role== ", value("")),
            ("node.role==manager==x", value("manager==x")),
            ("node.role==a>b", value("a>b")),
            ("node.role!=a=b", value("a=b")),
            (
                "node.name==x",
                ScheduleError::UnsupportedKey {
                    key: "node.name".into(),
                },
            ),
            (
                "node.labels.==x",
                ScheduleError::UnsupportedKey {
                    key: "node.labels.".into(),
                },
            ),
            (
                "node.ip==10.0.0.300",
                ScheduleError::InvalidAddress {
                    value: "10.0.0.300".into(),
                },
            ),
            (
                "node.ip==10.0.0.0/33",
                ScheduleError::InvalidAddress {
                    value: "10.0.0.0/33".into(),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Constraint::parse(text).as_ref(), Err(want), "{text}");
        }
    }

    #[test]
    fn errors_read_as_swarmkit_words_them() {
        let cases = [
            ("node.role", "constraint expected one operator from ==, !="),
            ("1node==a", "key '1node' is invalid"),
            ("node.role==a>b", "value 'a>b' is invalid"),
        ];
        for (text, want) in cases {
            assert_eq!(Constraint::parse(text).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn matching_follows_docker_case_rules() {
        let n = node();
        let cases = [
            ("node.id==abc123", true),
            ("node.id==ABC123", true),
            ("node.id!=abc123", false),
            ("node.hostname==worker-1", true),
            ("node.role==manager", true),
            ("node.role==MANAGER", true),
            ("node.role!=manager", false),
            ("node.role==worker", false),
            ("node.platform.os==linux", true),
            ("node.platform.arch==amd64", false),
            ("node.platform.arch==X86_64", true),
            ("node.labels.zone==east", true),
            ("node.labels.zone!=east", false),
            ("node.labels.zone==west", false),
            ("node.labels.Zone==east", false),
            ("node.labels.ZONE!=east", true),
            ("NODE.labels.Disk==SSD", true),
            ("node.labels.disk==ssd", false),
            ("node.labels.missing!=x", true),
            ("node.labels.missing==x", false),
            ("engine.labels.storage==fast", true),
            ("engine.labels.storage!=fast", false),
            ("node.labels.storage==fast", false),
            ("node.ip==10.0.1.7", true),
            ("node.ip==10.0.1.8", false),
            ("node.ip==10.0.0.0/16", true),
            ("node.ip!=10.0.0.0/16", false),
            ("node.ip==10.1.0.0/16", false),
            ("node.ip==0.0.0.0/0", true),
            ("node.ip==::ffff:10.0.1.7", true),
            ("node.ip==2001:db8::/32", false),
        ];
        for (text, want) in cases {
            let c = Constraint::parse(text).unwrap();
            assert_eq!(c.matches(&n), want, "{text}");
        }
    }

    #[test]
    fn a_node_without_address_matches_only_ip_inequality() {
        let n = Node::default();
        assert!(!Constraint::parse("node.ip==10.0.0.0/8")
            .unwrap()
            .matches(&n));
        assert!(Constraint::parse("node.ip!=10.0.0.1").unwrap().matches(&n));
    }

    #[test]
    fn a_constraint_displays_as_written_without_spaces() {
        let c = Constraint::parse("  Node.Labels.zone ==  b ").unwrap();
        assert_eq!(c.to_string(), "Node.Labels.zone==b");
        assert_eq!(
            Constraint::parse("node.role!=manager").unwrap().to_string(),
            "node.role!=manager"
        );
    }

    #[test]
    fn parse_constraints_reports_the_first_invalid_one() {
        let texts = vec![
            "node.role==worker".to_string(),
            "bad".into(),
            "1x==y".into(),
        ];
        assert_eq!(
            parse_constraints(&texts),
            Err(ScheduleError::MissingOperator {
                constraint: "bad".into()
            })
        );
        assert_eq!(parse_constraints(&texts[..1]).unwrap().len(), 1);
    }
}
