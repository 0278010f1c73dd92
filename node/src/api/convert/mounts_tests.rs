use serde_json::json;

use super::*;

const NOW: ApiVersion = ApiVersion::CURRENT;
const OLD: ApiVersion = ApiVersion(1, 41);

fn mount(v: serde_json::Value) -> Mount {
    serde_json::from_value(v).unwrap()
}

fn refusal_of(m: serde_json::Value, version: ApiVersion) -> String {
    from_mount(&mount(m), version).unwrap_err().message
}

#[test]
fn binds_tell_volumes_from_host_paths() {
    let v = parse_bind("data:/data", NOW).unwrap();
    assert_eq!(
        (v.kind, v.source.as_str(), v.read_only, v.mode.as_str()),
        (MountKind::Volume, "data", false, "z")
    );
    let b = parse_bind("/srv/x:/x:ro", NOW).unwrap();
    assert_eq!(
        (b.kind, b.read_only, b.create_source, b.mode.as_str()),
        (MountKind::Bind, true, true, "ro")
    );
    assert_eq!(b.origin, MountOrigin::Binds("/srv/x:/x:ro".into()));
    let anon = parse_bind("/anon", NOW).unwrap();
    assert_eq!((anon.kind, anon.source.as_str()), (MountKind::Volume, ""));
}

/// Each answer is docker 20.10's for the same `-v`.
#[test]
fn bind_strings_are_checked_as_docker_checks_them() {
    for (spec, want) in [
        ("/tmp/mx:/b:sideways", "invalid mode: sideways"),
        ("/tmp/mx:/b:ro,rw", "invalid mode: ro,rw"),
        ("/tmp/mx:ro", "invalid volume specification: '/tmp/mx:ro'"),
        ("/a:/b:c:d", "invalid volume specification: '/a:/b:c:d'"),
        (
            "vol:/b:rshared",
            "invalid volume specification: 'vol:/b:rshared': invalid mount config for type \"volume\": field BindOptions must not be specified",
        ),
        (
            "/tmp/mx:/b:nocopy",
            "invalid volume specification: '/tmp/mx:/b:nocopy': invalid mount config for type \"bind\": field VolumeOptions must not be specified",
        ),
        (
            "/tmp/mx:/",
            "invalid volume specification: '/tmp/mx:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'",
        ),
        (
            "relative:b",
            "invalid volume specification: 'relative:b': invalid mount config for type \"volume\": invalid mount path: 'b' mount path must be absolute",
        ),
    ] {
        assert_eq!(parse_bind(spec, NOW).unwrap_err().message, want, "{spec}");
    }
    for ok in ["vol:/b:nocopy,ro,z", "vol:/b:cached", "/:/host:ro,Z,rslave"] {
        assert!(parse_bind(ok, NOW).is_ok(), "{ok}");
    }
    let shared = parse_bind("/srv:/b:rshared", NOW).unwrap();
    assert_eq!(shared.propagation, Propagation::Rshared);
    assert_eq!(shared.mode, "rshared");
    assert_eq!(
        parse_bind("/srv:/b", NOW).unwrap().propagation,
        Propagation::Rprivate
    );
}

#[test]
fn read_only_binds_are_recursive_from_api_1_44() {
    assert!(parse_bind("/srv:/b:ro", NOW).unwrap().read_only_recursive);
    assert!(!parse_bind("/srv:/b:ro", OLD).unwrap().read_only_recursive);
    assert!(!parse_bind("/srv:/b", NOW).unwrap().read_only_recursive);
    let ro = |opts: serde_json::Value| json!({"Type": "bind", "Source": "/", "Target": "/b", "ReadOnly": true, "BindOptions": opts});
    let m = from_mount(&mount(ro(json!({"ReadOnlyNonRecursive": true}))), NOW).unwrap();
    assert!(m.read_only && !m.read_only_recursive);
    let m = from_mount(&mount(ro(json!({"ReadOnlyForceRecursive": true}))), NOW).unwrap();
    assert!(m.read_only_recursive);
    assert_eq!(
        refusal_of(ro(json!({"ReadOnlyForceRecursive": true})), OLD),
        "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer"
    );
    assert_eq!(
        refusal_of(
            ro(json!({"ReadOnlyForceRecursive": true, "ReadOnlyNonRecursive": true})),
            NOW
        ),
        "mount options conflict: ReadOnlyNonRecursive && BindOptions.ReadOnlyForceRecursive"
    );
    assert_eq!(
        refusal_of(
            json!({"Type": "bind", "Source": "/", "Target": "/b", "BindOptions": {"ReadOnlyNonRecursive": true}}),
            NOW
        ),
        "mount options conflict: !ReadOnly && BindOptions.ReadOnlyNonRecursive"
    );
}

#[test]
fn mount_objects_are_checked_as_moby_checks_them() {
    let bind = |extra: serde_json::Value| {
        let mut m = json!({"Type": "bind", "Source": "/", "Target": "/b"});
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        m
    };
    assert_eq!(
        refusal_of(bind(json!({"VolumeOptions": {"NoCopy": true}})), NOW),
        "invalid mount config for type \"bind\": field VolumeOptions must not be specified"
    );
    // Before API 1.42 moby dropped another type's volume and tmpfs options.
    assert!(from_mount(
        &mount(bind(json!({"VolumeOptions": {"NoCopy": true}}))),
        OLD
    )
    .is_ok());
    assert_eq!(
        refusal_of(
            json!({"Type": "volume", "Target": "/v", "BindOptions": {"Propagation": "rshared"}}),
            OLD
        ),
        "invalid mount config for type \"volume\": field BindOptions must not be specified"
    );
    assert_eq!(
        refusal_of(json!({"Type": "bind", "Source": "/", "Target": "/"}), NOW),
        "invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
    );
    assert_eq!(
        refusal_of(json!({"Type": "bind", "Source": "/", "Target": ""}), NOW),
        "invalid mount config for type \"bind\": field Target must not be empty"
    );
    assert_eq!(
        refusal_of(json!({"Type": "bind", "Source": "rel", "Target": "/b"}), NOW),
        "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"
    );
    assert_eq!(
        refusal_of(
            json!({"Type": "bind", "Source": "/no/such/berth/dir", "Target": "/b"}),
            NOW
        ),
        "invalid mount config for type \"bind\": bind source path does not exist: /no/such/berth/dir"
    );
    let made = json!({"Type": "bind", "Source": "/no/such/berth/dir", "Target": "/b", "BindOptions": {"CreateMountpoint": true}});
    assert!(from_mount(&mount(made.clone()), NOW).unwrap().create_source);
    // CreateMountpoint came with API 1.42: an older client's is ignored, as moby does.
    assert!(from_mount(&mount(made), OLD).is_err());
    assert_eq!(
        refusal_of(json!({"Type": "tmpfs", "Source": "x", "Target": "/t"}), NOW),
        "invalid mount config for type \"tmpfs\": field Source must not be specified"
    );
    let m = from_mount(
        &mount(bind(
            json!({"BindOptions": {"Propagation": "rslave", "NonRecursive": true}}),
        )),
        NOW,
    )
    .unwrap();
    assert_eq!(
        (m.propagation, m.non_recursive),
        (Propagation::Rslave, true)
    );
    assert!(matches!(m.origin, MountOrigin::Mounts(_)));
}

#[test]
fn volume_options_make_the_volume_and_subpaths_stay_inside_it() {
    let m = from_mount(
        &mount(json!({"Type": "volume", "Source": "v", "Target": "/v", "VolumeOptions": {
            "Labels": {"a": "b"}, "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}})),
        NOW,
    )
    .unwrap();
    assert_eq!(m.volume_labels["a"], "b");
    assert_eq!(m.volume_options["type"], "tmpfs");
    assert_eq!(
        refusal_of(
            json!({"Type": "volume", "Source": "v", "Target": "/v", "VolumeOptions": {"DriverConfig": {"Name": "nfs"}}}),
            NOW
        ),
        "error looking up volume plugin nfs: plugin \"nfs\" not found"
    );
    let sub = |subpath: &str, source: &str| json!({"Type": "volume", "Source": source, "Target": "/v", "VolumeOptions": {"Subpath": subpath}});
    assert_eq!(
        from_mount(&mount(sub("a/./b/../c", "v")), NOW)
            .unwrap()
            .subpath,
        "a/./b/../c"
    );
    for (bad, want) in [
        ("../a", "subpath must be a relative path within the volume"),
        (
            "a/../../b",
            "subpath must be a relative path within the volume",
        ),
        ("/etc", "subpath must be a relative path within the volume"),
    ] {
        assert!(refusal_of(sub(bad, "v"), NOW).ends_with(want), "{bad}");
    }
    assert!(refusal_of(sub("a", ""), NOW)
        .ends_with("must not set Subpath when using anonymous volumes"));
    assert_eq!(
        refusal_of(sub("a", "v"), ApiVersion(1, 44)),
        "VolumeOptions.Subpath needs API v1.45 or newer"
    );
}

#[test]
fn tmpfs_options_follow_docker() {
    let t = from_tmpfs(&HashMap::from([(
        "/scratch".to_string(),
        "size=1m,ro".to_string(),
    )]))
    .unwrap();
    assert_eq!(t[0].options, vec!["size=1m"]);
    assert!(t[0].read_only);
    assert_eq!(
        t[0].origin,
        MountOrigin::TmpfsEntry {
            target: "/scratch".into(),
            options: "size=1m,ro".into()
        }
    );
    assert!(from_tmpfs(&HashMap::from([("/".to_string(), String::new())])).is_err());
    assert!(from_tmpfs(&HashMap::from([("rel".to_string(), String::new())])).is_err());
    let m = from_mount(
        &mount(json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {
            "SizeBytes": 3145728, "Mode": 448, "Options": [["exec"]]}})),
        NOW,
    )
    .unwrap();
    assert_eq!(m.options, vec!["mode=700", "size=3m", "exec"]);
    assert_eq!(
        refusal_of(
            json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"Options": [["nr_inodes", "5"]]}}),
            NOW
        ),
        "invalid mount config for type \"tmpfs\": invalid option: nr_inodes"
    );
}

#[test]
fn duplicate_targets_are_refused_and_config_volumes_are_added_once() {
    let binds = vec!["a:/d".to_string(), "/h:/d".to_string()];
    assert!(collect(Some(&binds), None, None, None, NOW).is_err());
    let binds = vec!["a:/d".to_string()];
    let vols = vec!["/e".to_string(), "/d".to_string()];
    let all = collect(Some(&binds), None, None, Some(&vols), NOW).unwrap();
    let targets: Vec<&str> = all.iter().map(|m| m.target.as_str()).collect();
    assert_eq!(targets, vec!["/d", "/e"]);
    assert_eq!(config_volumes(&all), Some(vec!["/e".to_string()]));
}

#[test]
fn host_config_shows_each_field_as_sent() {
    let binds = vec!["/srv:/b:ro".to_string()];
    let mounts = vec![mount(json!({"Type": "tmpfs", "Target": "/g"}))];
    // Docker shows the map as sent: a target's trailing slash stays in inspect.
    let tmpfs = HashMap::from([("/h/".to_string(), "size=2m".to_string())]);
    let all = collect(Some(&binds), Some(&mounts), Some(&tmpfs), None, NOW).unwrap();
    let echo = host_config_echo(&all);
    assert_eq!(echo.binds, Some(binds));
    assert_eq!(echo.mounts.unwrap()[0].target.as_deref(), Some("/g"));
    assert_eq!(echo.tmpfs, Some(tmpfs));
    let points: Vec<String> = mount_points(&all, Path::new("/v"))
        .into_iter()
        .filter_map(|p| p.destination)
        .collect();
    assert_eq!(
        points,
        vec!["/b", "/g"],
        "HostConfig.Tmpfs is not a mount point"
    );
    assert!(
        all.iter().any(|m| m.target == "/h"),
        "mounted at the cleaned path"
    );
    assert_eq!(host_config_echo(&[]), HostConfigMounts::default());
    // A record from before the target was kept shows its cleaned target.
    let old = MountSpec {
        kind: MountKind::Tmpfs,
        target: "/h".into(),
        origin: MountOrigin::Tmpfs("size=2m".into()),
        ..Default::default()
    };
    assert_eq!(
        host_config_echo(&[old]).tmpfs,
        Some(HashMap::from([("/h".to_string(), "size=2m".to_string())]))
    );
}
