//! Recording fakes of `Firewall` and `NetnsOps` for unit tests; they never touch the kernel.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::nft::Ruleset;
use super::{Firewall, NetnsOps};
use crate::error::Result;

/// Keeps every rule set applied.
#[derive(Debug, Default)]
pub struct FakeFirewall {
    pub applied: Mutex<Vec<Ruleset>>,
}

impl Firewall for FakeFirewall {
    fn apply(&self, rules: &Ruleset) -> Result<()> {
        if let Ok(mut a) = self.applied.lock() {
            a.push(rules.clone());
        }
        Ok(())
    }

    fn remove(&self, _table: &str) -> Result<()> {
        Ok(())
    }
}

/// Records namespace creations and removals, and the links IPv6 was turned off on.
#[derive(Debug, Default)]
pub struct FakeNetns {
    pub created: Mutex<Vec<PathBuf>>,
    pub removed: Mutex<Vec<PathBuf>>,
    pub ipv6_off: Mutex<Vec<(PathBuf, String)>>,
    /// Host ends whose IPv6 was turned off.
    pub host_ipv6_off: Mutex<Vec<String>>,
    /// Bridges whose IPv6 was turned on.
    pub host_ipv6_on: Mutex<Vec<String>>,
}

impl NetnsOps for FakeNetns {
    fn create(&self, path: &Path) -> Result<()> {
        if let Ok(mut c) = self.created.lock() {
            c.push(path.to_path_buf());
        }
        Ok(())
    }

    fn remove(&self, path: &Path) -> Result<()> {
        if let Ok(mut r) = self.removed.lock() {
            r.push(path.to_path_buf());
        }
        Ok(())
    }

    fn disable_ipv6(&self, path: &Path, link: &str) -> Result<()> {
        if let Ok(mut o) = self.ipv6_off.lock() {
            o.push((path.to_path_buf(), link.to_string()));
        }
        Ok(())
    }

    fn disable_ipv6_here(&self, link: &str) -> Result<()> {
        if let Ok(mut o) = self.host_ipv6_off.lock() {
            o.push(link.to_string());
        }
        Ok(())
    }

    fn enable_ipv6_here(&self, link: &str) -> Result<bool> {
        if let Ok(mut o) = self.host_ipv6_on.lock() {
            o.push(link.to_string());
        }
        Ok(false)
    }
}
