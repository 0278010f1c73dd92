//! Signals as Docker names them (moby's signal map): `KILL`, `SIGKILL`, `sigkill`, a number,
//! and the real-time ones, `RTMIN`, `RTMIN+3`, `RTMAX-2`, which nix's `Signal` cannot hold
//! (systemd images stop on `SIGRTMIN+3`).

use crate::error::{EngineError, Result};

/// glibc's first and last real-time signals (the kernel's 32 and 33 are its threads').
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// A signal to send to a container's process, by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerSignal(i32);

impl ContainerSignal {
    pub const KILL: ContainerSignal = ContainerSignal(libc::SIGKILL);

    pub fn number(self) -> i32 {
        self.0
    }

    /// Sends it to process `pid`.
    pub fn send(self, pid: i32) -> std::io::Result<()> {
        // SAFETY: kill(2) takes plain integers and returns 0 or -1.
        if unsafe { libc::kill(pid, self.0) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Parses a signal given as a name (`KILL`, `SIGKILL`, `sigkill`, `SIGRTMIN+3`) or a number.
pub fn parse_signal(s: &str) -> Result<ContainerSignal> {
    let bad = || EngineError::InvalidArgument(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return (1..=RTMAX)
            .contains(&n)
            .then_some(ContainerSignal(n))
            .ok_or_else(bad);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let real_time = match name {
        "RTMIN" => Some(RTMIN),
        "RTMAX" => Some(RTMAX),
        _ => match (name.strip_prefix("RTMIN+"), name.strip_prefix("RTMAX-")) {
            (Some(n), _) => n.parse::<i32>().ok().map(|n| RTMIN + n),
            (_, Some(n)) => n.parse::<i32>().ok().map(|n| RTMAX - n),
            _ => None,
        },
    };
    if let Some(n) = real_time {
        return (RTMIN..=RTMAX)
            .contains(&n)
            .then_some(ContainerSignal(n))
            .ok_or_else(bad);
    }
    format!("SIG{name}")
        .parse::<nix::sys::signal::Signal>()
        .map(|sig| ContainerSignal(sig as i32))
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_number_and_real_time_offset() {
        let n = |s: &str| parse_signal(s).map(ContainerSignal::number).ok();
        assert_eq!(n("KILL"), Some(9));
        assert_eq!(n("sigterm"), Some(15));
        assert_eq!(n("9"), Some(9));
        assert_eq!(n("SIGRTMIN+3"), Some(37));
        assert_eq!(n("rtmin"), Some(34));
        assert_eq!(n("RTMAX-2"), Some(62));
        assert_eq!(n("64"), Some(64));
        for bad in [
            "NOPE",
            "0",
            "65",
            "-1",
            "SIGRTMIN+31",
            "RTMAX-31",
            "RTMIN+x",
            "",
        ] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
