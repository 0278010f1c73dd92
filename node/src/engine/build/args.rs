//! Build arguments with the classic builder's rules (moby's `BuildArgs`): values from
//! `--build-arg` apply only to ARGs the Dockerfile declares (or the proxy variables, always
//! allowed), a stage sees only the ARGs it declares again, and a global ARG's default carries
//! into a stage that declares it without one.

use std::collections::{BTreeMap, BTreeSet};

/// The proxy variables every build may be given without declaring them.
const BUILTIN: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The arguments of one build; cloned per stage.
#[derive(Debug, Clone, Default)]
pub struct BuildArgs {
    /// ARGs declared in the current stage (or globally, before the first FROM), with defaults.
    allowed: BTreeMap<String, Option<String>>,
    /// Global ARGs.
    meta: BTreeMap<String, Option<String>>,
    /// Every ARG name the Dockerfile declared so far, for the unused-argument warning.
    referenced: BTreeSet<String>,
    /// `--build-arg` values (`None`: given without a value and not set in the client).
    options: BTreeMap<String, Option<String>>,
}

impl BuildArgs {
    /// Arguments given with the build.
    pub fn new(options: BTreeMap<String, Option<String>>) -> Self {
        BuildArgs {
            options,
            ..Default::default()
        }
    }

    /// A stage's copy: global and referenced names kept, no ARG of its own yet.
    pub fn for_stage(&self) -> Self {
        BuildArgs {
            allowed: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// Declares `ARG key[=default]` in the current scope.
    pub fn add(&mut self, key: &str, default: Option<String>) {
        self.allowed.insert(key.to_string(), default);
        self.referenced.insert(key.to_string());
    }

    /// Declares a global ARG (before the first FROM).
    pub fn add_meta(&mut self, key: &str, default: Option<String>) {
        self.meta.insert(key.to_string(), default);
    }

    /// Keeps the names `other` referenced (a finished stage), for the final warning.
    pub fn merge_referenced(&mut self, other: &BuildArgs) {
        self.referenced.extend(other.referenced.iter().cloned());
    }

    fn value(&self, key: &str, source: &BTreeMap<String, Option<String>>) -> Option<String> {
        if let Some(Some(v)) = self.options.get(key) {
            return Some(v.clone());
        }
        match source.get(key) {
            Some(Some(default)) => Some(default.clone()),
            // Declared without a default: a global default applies.
            Some(None) | None => self.meta.get(key).cloned().flatten(),
        }
    }

    fn all(&self, source: &BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
        source
            .keys()
            .map(String::as_str)
            .chain(BUILTIN)
            .filter_map(|k| self.value(k, source).map(|v| (k.to_string(), v)))
            .collect()
    }

    /// Values of the ARGs in scope (and given proxy variables).
    pub fn allowed(&self) -> BTreeMap<String, String> {
        self.all(&self.allowed)
    }

    /// Values of the global ARGs (and given proxy variables), as FROM lines see them.
    pub fn meta_values(&self) -> BTreeMap<String, String> {
        self.all(&self.meta)
    }

    /// `KEY=value` for each argument in scope that `env` does not set (an ENV wins over an
    /// ARG of the same name), sorted.
    pub fn filter_allowed(&self, env: &[String]) -> Vec<String> {
        let keys: BTreeSet<&str> = env
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        self.allowed()
            .into_iter()
            .filter(|(k, _)| !keys.contains(k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Whether `key` is recorded in RUN's history prefix: proxy variables only when declared.
    pub fn is_referenced_or_not_builtin(&self, key: &str) -> bool {
        self.allowed.contains_key(key) || !BUILTIN.contains(&key)
    }

    /// Arguments given with the build that no ARG used, sorted (the build still succeeds).
    pub fn unused(&self) -> Vec<String> {
        self.options
            .keys()
            .filter(|k| !self.referenced.contains(*k) && !BUILTIN.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(pairs: &[(&str, Option<&str>)]) -> BuildArgs {
        BuildArgs::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
        )
    }

    #[test]
    fn only_declared_arguments_get_values() {
        let mut a = given(&[
            ("V", Some("x")),
            ("UNUSED", Some("1")),
            ("http_proxy", Some("p")),
        ]);
        assert!(!a.allowed().contains_key("V"));
        assert_eq!(a.allowed().get("http_proxy").map(String::as_str), Some("p"));
        a.add("V", Some("default".into()));
        a.add("D", Some("d".into()));
        a.add("NONE", None);
        let all = a.allowed();
        assert_eq!(all.get("V").map(String::as_str), Some("x"));
        assert_eq!(all.get("D").map(String::as_str), Some("d"));
        assert!(!all.contains_key("NONE"));
        assert_eq!(a.unused(), ["UNUSED"]);
    }

    #[test]
    fn global_defaults_reach_stages_that_declare_the_name_again() {
        let mut global = given(&[]);
        global.add("VERSION", Some("1.0".into()));
        global.add_meta("VERSION", Some("1.0".into()));
        assert_eq!(
            global.meta_values().get("VERSION").map(String::as_str),
            Some("1.0")
        );
        let mut stage = global.for_stage();
        assert!(stage.allowed().is_empty());
        stage.add("VERSION", None);
        assert_eq!(
            stage.allowed().get("VERSION").map(String::as_str),
            Some("1.0")
        );
    }

    #[test]
    fn env_wins_and_proxies_stay_out_of_history_unless_declared() {
        let mut a = given(&[("http_proxy", Some("p")), ("A", Some("1"))]);
        a.add("A", None);
        assert_eq!(
            a.filter_allowed(&["PATH=/bin".into()]),
            ["A=1", "http_proxy=p"]
        );
        assert_eq!(a.filter_allowed(&["A=env".into()]), ["http_proxy=p"]);
        assert!(!a.is_referenced_or_not_builtin("http_proxy"));
        assert!(a.is_referenced_or_not_builtin("A"));
        a.add("http_proxy", None);
        assert!(a.is_referenced_or_not_builtin("http_proxy"));
    }
}
