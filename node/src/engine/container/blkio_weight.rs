//! Block I/O weights (`--blkio-weight`, `--blkio-weight-device`) as Docker's daemon takes
//! them (moby's `verifyPlatformContainerResources`): where the kernel has no weights they are
//! dropped with its warning, and a weight outside 10–1000 is refused. What the kernel has and
//! berth does not apply is refused by name: per-device weights (libcontainer does not write
//! them on cgroup v1) and weights on cgroup v2 (libcontainer's scaling to `io.weight`
//! overflows).

use std::path::PathBuf;

use super::settings::WeightDevice;
use crate::error::{EngineError, Result};

/// What the host's cgroups offer, as moby's sysinfo reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeightSupport {
    pub weight: bool,
    pub device: bool,
    /// The weights are cgroup v2's (`io.weight`, `io.bfq.weight`).
    pub v2: bool,
}

impl WeightSupport {
    /// From the hierarchies containers join: a v1 blkio hierarchy's `blkio.weight` and
    /// `blkio.weight_device`, or a v2 root offering the `io` controller.
    pub fn of(hierarchies: &[PathBuf]) -> WeightSupport {
        let mut s = WeightSupport::default();
        for h in hierarchies {
            let controllers = std::fs::read_to_string(h.join("cgroup.controllers"));
            if controllers.is_ok_and(|c| c.split_whitespace().any(|c| c == "io")) {
                return WeightSupport {
                    weight: true,
                    device: true,
                    v2: true,
                };
            }
            s.weight |= h.join("blkio.weight").exists();
            s.device |= h.join("blkio.weight_device").exists();
        }
        s
    }
}

/// Docker's checks of a container's weights, at create and update (`support` is looked up
/// only when one is set); returns its warnings for what it dropped.
pub fn check(
    weight: &mut u16,
    devices: &mut Vec<WeightDevice>,
    support: impl FnOnce() -> WeightSupport,
) -> Result<Vec<String>> {
    if *weight == 0 && devices.is_empty() {
        return Ok(Vec::new());
    }
    let support = support();
    let mut warnings = Vec::new();
    if *weight > 0 && !support.weight {
        warnings.push(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight \
             discarded."
                .to_string(),
        );
        *weight = 0;
    }
    if *weight > 0 && !(10..=1000).contains(weight) {
        return Err(EngineError::InvalidArgument(
            "Range of blkio weight is from 10 to 1000".into(),
        ));
    }
    if *weight > 0 && support.v2 {
        return Err(EngineError::InvalidArgument(
            "BlkioWeight: block I/O weights on cgroup v2 are not supported by berth".into(),
        ));
    }
    if !devices.is_empty() {
        if support.device {
            return Err(EngineError::InvalidArgument(
                "BlkioWeightDevice: per-device block I/O weights are not supported by berth".into(),
            ));
        }
        warnings.push(
            "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. \
             Weight-device discarded."
                .to_string(),
        );
        devices.clear();
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A weight and `devices` per-device weights.
    fn settings(weight: u16, devices: usize) -> (u16, Vec<WeightDevice>) {
        let device = WeightDevice {
            path: "/dev/vda".into(),
            weight: 200,
        };
        (weight, vec![device; devices])
    }

    #[test]
    fn weights_the_kernel_lacks_are_dropped_with_dockers_warning() {
        let none = || WeightSupport::default();
        let (mut w, mut d) = settings(5, 1);
        let warnings = check(&mut w, &mut d, none).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].ends_with("Weight discarded."));
        assert!(warnings[1].ends_with("Weight-device discarded."));
        assert_eq!((w, d.len()), (0, 0));
    }

    #[test]
    fn a_weight_the_kernel_has_is_kept_inside_dockers_range() {
        let has = || WeightSupport {
            weight: true,
            device: true,
            v2: false,
        };
        let (mut w, mut d) = settings(300, 0);
        assert_eq!(
            check(&mut w, &mut d, has).map_err(|e| e.to_string()),
            Ok(vec![])
        );
        assert_eq!(w, 300);
        let err = |(mut w, mut d): (u16, Vec<WeightDevice>)| {
            check(&mut w, &mut d, has).err().map(|e| e.to_string())
        };
        assert_eq!(
            err(settings(5, 0)).as_deref(),
            Some("Range of blkio weight is from 10 to 1000")
        );
        assert!(err(settings(0, 1)).is_some_and(|e| e.contains("BlkioWeightDevice")));
        let (mut w, mut d) = settings(300, 0);
        let v2 = || WeightSupport { v2: true, ..has() };
        assert!(check(&mut w, &mut d, v2).is_err_and(|e| e.to_string().contains("cgroup v2")));
        // Nothing set: the host is not even looked at.
        let (mut w, mut d) = settings(0, 0);
        let untouched = check(&mut w, &mut d, || panic!("looked up"));
        assert_eq!(untouched.map_err(|e| e.to_string()), Ok(vec![]));
    }

    #[test]
    fn support_is_read_from_v1_files_or_the_v2_io_controller() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (v1, v2) = (tmp.path().join("blkio"), tmp.path().join("unified"));
        for d in [&v1, &v2] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(
            WeightSupport::of(std::slice::from_ref(&v1)),
            WeightSupport::default()
        );
        std::fs::write(v1.join("blkio.weight"), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            WeightSupport::of(std::slice::from_ref(&v1)),
            WeightSupport {
                weight: true,
                device: false,
                v2: false
            }
        );
        std::fs::write(v2.join("cgroup.controllers"), "cpu io memory\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(WeightSupport::of(&[v2]).device);
    }
}
