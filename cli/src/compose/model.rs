//! The Compose file, typed: what `stack deploy` reads. Unknown keys are refused, except in a
//! service, where keys the swarm cannot honour are collected and reported as warnings, and
//! extension fields (`x-…`) are allowed everywhere they may appear.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

/// A whole (merged, interpolated) file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeFile {
    /// Accepted and unused, as docker's CLI does for 3.x files.
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "accepted as docker's CLI accepts it; nothing depends on it"
    )]
    pub version: Option<String>,
    /// The project name: the stack's name comes from the command line, as with docker.
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "accepted as docker's CLI accepts it; the stack name wins"
    )]
    pub name: Option<String>,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceConfig>,
    #[serde(default)]
    pub networks: BTreeMap<String, Option<NetworkConfig>>,
    #[serde(default)]
    pub volumes: BTreeMap<String, Option<VolumeConfig>>,
    #[serde(default)]
    pub secrets: BTreeMap<String, FileObjectConfig>,
    #[serde(default)]
    pub configs: BTreeMap<String, FileObjectConfig>,
}

/// A string or a list of strings (`command`, `entrypoint`, `dns`…).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    List(Vec<String>),
}

/// A mapping or a `KEY=VALUE` list (`environment`, `labels`…); values may be null or scalars.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum MapOrList {
    Map(BTreeMap<String, Option<Scalar>>),
    List(Vec<String>),
}

/// A scalar written as a string, number or boolean.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    /// As YAML wrote it.
    pub fn text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// A non-negative integer, also as a string (after `${VAR}` substitution).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d) {
            Ok(Raw::N(n)) => Ok(Count(n)),
            Ok(Raw::S(s)) => s.trim().parse().map(Count).map_err(|_| {
                serde::de::Error::custom(format!(
                    "invalid type: string \"{s}\", expected a non-negative integer"
                ))
            }),
            Err(_) => Err(serde::de::Error::custom("expected a non-negative integer")),
        }
    }
}

/// A file mode. YAML 1.2 reads `0440` as a string, and Compose files mean octal by it (as
/// YAML 1.1 did): a string is read as octal, a number as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Raw::deserialize(d) {
            Ok(Raw::N(n)) => Ok(FileMode(n)),
            Ok(Raw::S(s)) => {
                let digits = s.trim_start_matches("0o");
                u32::from_str_radix(digits, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .map(FileMode)
                    .ok_or_else(|| serde::de::Error::custom(format!("invalid file mode {s:?}")))
            }
            Err(_) => Err(serde::de::Error::custom(
                "expected a file mode such as 0440",
            )),
        }
    }
}

/// One service.
#[derive(Debug, Default, Deserialize)]
pub struct ServiceConfig {
    pub image: Option<String>,
    pub command: Option<StringOrList>,
    pub entrypoint: Option<StringOrList>,
    pub environment: Option<MapOrList>,
    pub env_file: Option<StringOrList>,
    pub labels: Option<MapOrList>,
    #[serde(default)]
    pub ports: Vec<PortConfig>,
    #[serde(default)]
    pub volumes: Vec<VolumeMount>,
    pub networks: Option<ServiceNetworks>,
    pub healthcheck: Option<Healthcheck>,
    pub stop_grace_period: Option<String>,
    pub stop_signal: Option<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub init: Option<bool>,
    pub read_only: Option<bool>,
    pub tty: Option<bool>,
    pub stdin_open: Option<bool>,
    #[serde(default)]
    pub ulimits: BTreeMap<String, Ulimit>,
    pub extra_hosts: Option<MapOrList>,
    pub dns: Option<StringOrList>,
    pub dns_search: Option<StringOrList>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub sysctls: Option<MapOrList>,
    #[serde(default)]
    pub secrets: Vec<FileReference>,
    #[serde(default)]
    pub configs: Vec<FileReference>,
    pub deploy: Option<Deploy>,
    /// Every other key: extension fields, keys the swarm cannot honour, and mistakes.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `ports:` entries: `"8080:80/udp"`, `80`, or the long form.
#[derive(Debug, Clone)]
pub enum PortConfig {
    Number(u64),
    Short(String),
    Long(PortLong),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortLong {
    pub target: Count,
    pub published: Option<Scalar>,
    pub protocol: Option<String>,
    pub mode: Option<String>,
    pub host_ip: Option<String>,
    pub name: Option<String>,
}

/// `volumes:` entries of a service: `name:/path[:ro]`, `/host:/path`, or the long form.
#[derive(Debug, Clone)]
pub enum VolumeMount {
    Short(String),
    Long(VolumeLong),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeLong {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    pub read_only: Option<bool>,
    /// Docker Desktop's mount consistency: meaningless on Linux, accepted as docker does.
    #[allow(
        dead_code,
        reason = "meaningless on Linux, accepted as docker accepts it"
    )]
    pub consistency: Option<String>,
    pub volume: Option<VolumeLongVolume>,
    pub bind: Option<VolumeLongBind>,
    pub tmpfs: Option<VolumeLongTmpfs>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeLongVolume {
    pub nocopy: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeLongBind {
    pub propagation: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeLongTmpfs {
    pub size: Option<Scalar>,
    pub mode: Option<FileMode>,
}

/// A service's `networks:`: a list of names or a mapping with aliases.
#[derive(Debug, Clone)]
pub enum ServiceNetworks {
    List(Vec<String>),
    Map(BTreeMap<String, Option<ServiceNetwork>>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    #[serde(default)]
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    pub test: Option<StringOrList>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<Count>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub disable: Option<bool>,
}

/// `ulimits:` entries: `nofile: 1024` or `nofile: {soft: 1024, hard: 2048}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Ulimit {
    Single(i64),
    Pair(UlimitPair),
}

/// `{soft: …, hard: …}`; another key is refused, not dropped.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UlimitPair {
    pub soft: i64,
    pub hard: i64,
}

/// A service's `secrets:`/`configs:` entry: a name, or the long form.
#[derive(Debug, Clone)]
pub enum FileReference {
    Short(String),
    Long(FileReferenceLong),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileReferenceLong {
    pub source: String,
    pub target: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub mode: Option<FileMode>,
}

/// `deploy:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    pub mode: Option<String>,
    pub replicas: Option<Count>,
    pub labels: Option<MapOrList>,
    pub update_config: Option<UpdateConfig>,
    pub rollback_config: Option<UpdateConfig>,
    pub restart_policy: Option<RestartPolicy>,
    pub placement: Option<Placement>,
    pub resources: Option<Resources>,
    pub endpoint_mode: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    pub parallelism: Option<Count>,
    pub delay: Option<String>,
    pub failure_action: Option<String>,
    pub monitor: Option<String>,
    pub max_failure_ratio: Option<f64>,
    pub order: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    pub condition: Option<String>,
    pub delay: Option<String>,
    pub max_attempts: Option<Count>,
    pub window: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(default)]
    pub constraints: Vec<String>,
    #[serde(default)]
    pub preferences: Vec<PlacementPreference>,
    pub max_replicas_per_node: Option<Count>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementPreference {
    pub spread: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub limits: Option<ResourceAmounts>,
    pub reservations: Option<ResourceAmounts>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceAmounts {
    pub cpus: Option<Scalar>,
    pub memory: Option<Scalar>,
    pub pids: Option<i64>,
    pub generic_resources: Option<Vec<GenericResource>>,
}

/// `generic_resources:` entry: a count of a node's generic resource kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericResource {
    pub discrete_resource_spec: Option<DiscreteResource>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscreteResource {
    pub kind: String,
    pub value: i64,
}

/// A top-level network.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    pub driver: Option<String>,
    #[serde(default)]
    pub driver_opts: BTreeMap<String, Scalar>,
    pub attachable: Option<bool>,
    pub internal: Option<bool>,
    pub enable_ipv6: Option<bool>,
    pub external: Option<External>,
    pub name: Option<String>,
    pub labels: Option<MapOrList>,
    pub ipam: Option<Ipam>,
}

/// `external: true` or the old `external: {name: x}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum External {
    Flag(bool),
    Named(ExternalName),
}

/// `{name: …}`; another key is refused, not dropped.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalName {
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    pub driver: Option<String>,
    #[serde(default)]
    pub config: Vec<IpamPool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
}

/// A top-level volume.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeConfig {
    pub driver: Option<String>,
    #[serde(default)]
    pub driver_opts: BTreeMap<String, Scalar>,
    pub external: Option<External>,
    pub name: Option<String>,
    pub labels: Option<MapOrList>,
}

/// A top-level secret or config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileObjectConfig {
    pub file: Option<String>,
    pub external: Option<External>,
    pub name: Option<String>,
    pub labels: Option<MapOrList>,
    pub template_driver: Option<String>,
    pub environment: Option<String>,
}

impl External {
    /// Whether the object is made elsewhere, and under which name when given.
    pub fn name(&self) -> (bool, Option<&str>) {
        match self {
            External::Flag(b) => (*b, None),
            External::Named(n) => (true, Some(&n.name)),
        }
    }
}

impl MapOrList {
    /// As `KEY → value`, a bare `KEY` mapped to `None`.
    pub fn entries(&self) -> BTreeMap<String, Option<String>> {
        match self {
            MapOrList::Map(m) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_ref().map(Scalar::text)))
                .collect(),
            MapOrList::List(l) => l
                .iter()
                .map(|e| match e.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (e.clone(), None),
                })
                .collect(),
        }
    }
}

impl StringOrList {
    /// The list; a string is split as a shell would (docker's CLI does the same).
    pub fn words(&self) -> Result<Vec<String>, String> {
        match self {
            StringOrList::List(l) => Ok(l.clone()),
            StringOrList::One(s) => crate::commands::service::parse::shell_words(s).map(|w| w.0),
        }
    }

    /// The list, a string being one item (`dns`, `env_file`).
    pub fn items(&self) -> Vec<String> {
        match self {
            StringOrList::List(l) => l.clone(),
            StringOrList::One(s) => vec![s.clone()],
        }
    }
}

/// A short form or a long form that is a mapping: a mapping is read as the long form alone, so
/// its own error (an unknown key, by name) is the one reported, not serde's "did not match any
/// variant of untagged enum".
fn mapping_or<'de, D, L, T>(
    d: D,
    long: fn(L) -> T,
    short: impl FnOnce(Value) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    L: serde::de::DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    if v.is_mapping() {
        return L::deserialize(v)
            .map(long)
            .map_err(serde::de::Error::custom);
    }
    short(v).map_err(serde::de::Error::custom)
}

/// What a value is, in a message.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

impl<'de> Deserialize<'de> for PortConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        mapping_or(d, PortConfig::Long, |v| match v {
            Value::Number(n) => n
                .as_u64()
                .map(PortConfig::Number)
                .ok_or_else(|| format!("invalid port {n}")),
            Value::String(s) => Ok(PortConfig::Short(s)),
            other => Err(format!(
                "a port is a number, a string or a mapping, not {}",
                kind_of(&other)
            )),
        })
    }
}

impl<'de> Deserialize<'de> for VolumeMount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        mapping_or(d, VolumeMount::Long, |v| match v {
            Value::String(s) => Ok(VolumeMount::Short(s)),
            other => Err(format!(
                "a volume is a string or a mapping, not {}",
                kind_of(&other)
            )),
        })
    }
}

impl<'de> Deserialize<'de> for FileReference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        mapping_or(d, FileReference::Long, |v| match v {
            Value::String(s) => Ok(FileReference::Short(s)),
            other => Err(format!(
                "a secret or config is a name or a mapping, not {}",
                kind_of(&other)
            )),
        })
    }
}

impl<'de> Deserialize<'de> for ServiceNetworks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        mapping_or(d, ServiceNetworks::Map, |v| {
            Vec::<String>::deserialize(v)
                .map(ServiceNetworks::List)
                .map_err(|e| format!("networks are a list of names or a mapping: {e}"))
        })
    }
}
