//! `top`: the container's processes as `ps` shows them. Like Docker, runs the host's `ps` with
//! the caller's arguments and keeps the rows whose PID is in the container's cgroup.

use std::collections::HashSet;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::runtime::cgroups;

/// `ps` output cut into titles and rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessTable {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

impl Engine {
    /// The container's processes; `ps_args` defaults to `-ef`.
    pub async fn top(&self, key: &str, ps_args: Option<&str>) -> Result<ProcessTable> {
        let handle = self.lookup(key)?;
        let rec = handle.snapshot().await;
        if !rec.state.status.is_running() {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        let pids: HashSet<u32> =
            cgroups::container_dirs(&self.paths.cgroups.all, &rec.cgroup_rel())
                .iter()
                .find_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
        let args: Vec<String> = ps_args
            .filter(|a| !a.trim().is_empty())
            .unwrap_or("-ef")
            .split_whitespace()
            .map(String::from)
            .collect();
        let out = tokio::process::Command::new("ps")
            .args(&args)
            .output()
            .await
            .map_err(|e| EngineError::io("run ps", e))?;
        if !out.status.success() {
            // The first line of what ps said, as moby's (the rest is its usage text).
            let stderr = String::from_utf8_lossy(&out.stderr);
            let why = stderr.lines().next().unwrap_or_default().trim();
            return Err(EngineError::Internal(format!("ps: {why}")));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

/// Keeps the rows of `ps` output whose PID is in `pids`; the last column may contain spaces.
pub fn parse_ps(output: &str, pids: &HashSet<u32>) -> Result<ProcessTable> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        EngineError::InvalidArgument("Couldn't find PID field in ps output".into())
    })?;
    let processes = lines
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let pid: u32 = fields.get(pid_col)?.parse().ok()?;
            if !pids.contains(&pid) || fields.len() < titles.len() {
                return None;
            }
            let mut row: Vec<String> = fields[..titles.len() - 1]
                .iter()
                .map(|f| f.to_string())
                .collect();
            row.push(fields[titles.len() - 1..].join(" "));
            Some(row)
        })
        .collect();
    Ok(ProcessTable { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_other_processes_are_dropped_and_commands_keep_their_spaces() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                   root 4242 4000 0 10:01 ? 00:00:00 sleep 300\n";
        let t = parse_ps(out, &HashSet::from([4242])).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(
            t.processes,
            vec![vec![
                "root",
                "4242",
                "4000",
                "0",
                "10:01",
                "?",
                "00:00:00",
                "sleep 300"
            ]]
        );
    }

    #[test]
    fn output_without_a_pid_column_is_an_error() {
        assert!(parse_ps("USER COMMAND\n", &HashSet::new()).is_err());
    }
}
