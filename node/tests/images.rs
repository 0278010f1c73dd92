//! Images against a real berthd: `docker save` of an imported image, removal, `docker load` of
//! the archive back (same id, a container runs from it), unknown names, and the inspect fields
//! older API versions keep.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    clippy::print_stdout,
    reason = "integration tests panic on failure by design"
)]

use berth_test_support::{require_root, TestDaemon};
use serde_json::{json, Value};
use std::io::Read;

/// (name, content) of every regular file in a tar.
fn tar_files(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(archive);
    tar.entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.header().entry_type().is_file())
        .map(|mut e| {
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

#[test]
fn save_remove_and_load_give_back_the_same_image_that_runs() {
    require_root!();
    let d = TestDaemon::with_busybox("save");
    let id = d.req("GET", "/images/busybox:latest/json", "").json()["Id"]
        .as_str()
        .unwrap()
        .to_string();

    let r = d.req("GET", "/v1.47/images/busybox:latest/get", "");
    assert_eq!(r.status, 200, "save: {}", r.text());
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("content-type: application/x-tar"),
        "{}",
        r.headers
    );
    let archive = r.body;
    let files = tar_files(&archive);
    let manifest = &files.iter().find(|(n, _)| n == "manifest.json").unwrap().1;
    let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    assert_eq!(manifest[0]["RepoTags"], json!(["busybox:latest"]));
    assert_eq!(
        manifest[0]["Config"],
        format!("blobs/sha256/{}", &id["sha256:".len()..])
    );
    assert_eq!(manifest[0]["Layers"].as_array().unwrap().len(), 1);

    // The by-names form gives the same archive.
    let r = d.req("GET", "/images/get?names=busybox", "");
    assert_eq!(r.status, 200, "save by names: {}", r.text());
    assert_eq!(r.body, archive);

    let r = d.req("DELETE", "/images/busybox:latest", "");
    assert_eq!(r.status, 200, "rmi: {}", r.text());
    assert_eq!(d.req("GET", "/images/busybox:latest/json", "").status, 404);

    let r = d
        .try_request("POST", "/v1.47/images/load?quiet=1", &archive)
        .unwrap();
    assert_eq!(r.status, 200, "load: {}", r.text());
    assert!(
        r.text().contains("Loaded image: busybox:latest"),
        "{}",
        r.text()
    );
    // Streamed (chunked) as Docker's, so docker-py reads it as a stream of messages; a broken
    // archive is the stream's last message, not an HTTP error.
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{}",
        r.headers
    );
    let r = d.try_request("POST", "/v1.47/images/load", b"abc").unwrap();
    assert_eq!(r.status, 200, "load: {}", r.text());
    let last: serde_json::Value = serde_json::from_str(r.text().lines().last().unwrap()).unwrap();
    assert!(last["errorDetail"]["message"].is_string(), "{last}");
    let r = d.req("GET", "/images/busybox:latest/json", "");
    assert_eq!(r.status, 200, "inspect: {}", r.text());
    assert_eq!(r.json()["Id"], id.as_str());

    // Not quiet (the docker CLI at a terminal): each layer's progress, then the result
    // (berth ignored `quiet` and gave only the result).
    assert_eq!(d.req("DELETE", "/images/busybox:latest", "").status, 200);
    let r = d
        .try_request("POST", "/v1.47/images/load?quiet=0", &archive)
        .unwrap();
    assert_eq!(r.status, 200, "load: {}", r.text());
    let lines: Vec<serde_json::Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let layer = manifest[0]["Layers"][0].as_str().unwrap();
    let diff_id = layer.rsplit('/').next().unwrap();
    let progress: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["status"] == "Loading layer")
        .collect();
    assert!(!progress.is_empty(), "{lines:?}");
    assert!(
        progress.iter().all(|l| l["id"] == diff_id[..12]),
        "{lines:?}"
    );
    let last = progress.last().unwrap();
    assert_eq!(
        last["progressDetail"]["current"],
        last["progressDetail"]["total"]
    );
    assert_eq!(
        lines.last().unwrap()["stream"],
        "Loaded image: busybox:latest\n"
    );

    let c = d.create(
        &format!("{}-loaded", d.prefix),
        json!({"Image": "busybox:latest", "Cmd": ["sh", "-c", "test -x /bin/busybox"]}),
    );
    let r = d.req("POST", &format!("/containers/{c}/start"), "");
    assert_eq!(r.status, 204, "start: {}", r.text());
    let r = d.req("POST", &format!("/containers/{c}/wait"), "");
    assert_eq!(r.status, 200, "wait: {}", r.text());
    assert_eq!(r.json()["StatusCode"], 0);
}

#[test]
fn an_unknown_image_is_a_404_in_dockers_words() {
    require_root!();
    let d = TestDaemon::with_busybox("savenope");
    for path in [
        "/images/get?names=nope",
        "/images/get?names=busybox&names=nope",
        "/images/nope/get",
    ] {
        let r = d.req("GET", path, "");
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert_eq!(
            r.json(),
            json!({"message": "No such image: nope"}),
            "{path}"
        );
    }
    // Docker's other commands name a missing image with its tag.
    for (method, path) in [
        ("DELETE", "/images/nope"),
        ("GET", "/images/nope/json"),
        ("GET", "/images/docker.io/library/nope/history"),
    ] {
        let r = d.req(method, path, "");
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert_eq!(
            r.json(),
            json!({"message": "No such image: nope:latest"}),
            "{path}"
        );
    }
}

#[test]
fn import_keeps_its_message_and_platform_and_save_and_load_check_theirs() {
    require_root!();
    let d = TestDaemon::start("impmeta");
    let tar = std::fs::read(berth_test_support::busybox_tar(&d.root)).unwrap();
    let r = d
        .try_request(
            "POST",
            "/v1.47/images/create?fromSrc=-&repo=imp&tag=1&message=from%20the%20farm&platform=linux/arm64",
            &tar,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let image = d.req("GET", "/images/imp:1/json", "").json();
    assert_eq!(
        (image["Os"].as_str(), image["Architecture"].as_str()),
        (Some("linux"), Some("arm64"))
    );
    let history = d.req("GET", "/images/imp:1/history", "").json();
    assert_eq!(history[0]["Comment"], "from the farm");
    let r = d
        .try_request(
            "POST",
            "/v1.47/images/create?fromSrc=-&repo=imp&tag=2&platform=a/b/c/d",
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    // API 1.46's platform (JSON) on save and load: the image's own platform, else refused.
    let enc = |p: &str| {
        p.replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
    };
    let amd = enc(r#"{"os":"linux","architecture":"amd64"}"#);
    let arm = enc(r#"{"os":"linux","architecture":"arm64"}"#);
    let r = d.req("GET", &format!("/images/imp:1/get?platform={amd}"), "");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text().contains("does not match the specified platform"),
        "{}",
        r.text()
    );
    let r = d.req("GET", &format!("/images/imp:1/get?platform={arm}"), "");
    assert_eq!(r.status, 200);
    let r = d.req("GET", "/images/imp:1/get?platform=linux-arm64", "");
    assert_eq!(r.status, 400, "{}", r.text());
    let s390 = enc(r#"{"os":"linux","architecture":"s390x"}"#);
    let r = d
        .try_request("POST", &format!("/v1.47/images/load?platform={s390}"), b"")
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("loading platform linux/s390x"),
        "{}",
        r.text()
    );
}

#[test]
fn image_inspect_keeps_the_fields_older_clients_read() {
    require_root!();
    let d = TestDaemon::with_busybox("imglegacy");
    let at = |version: &str| {
        let r = d.req("GET", &format!("/v{version}/images/busybox/json"), "");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    // docker-compose 1.29 asks for 1.38 and reads ContainerConfig.Volumes to recreate a
    // service's container: without the field it stops with `KeyError: 'ContainerConfig'`.
    let old = at("1.38");
    assert!(old["ContainerConfig"].is_object(), "{old}");
    assert!(old["ContainerConfig"].get("Volumes").is_some(), "{old}");
    assert_eq!(old["Container"], "");
    assert_eq!(old["VirtualSize"], old["Size"]);
    assert_eq!(
        (&old["Parent"], &old["DockerVersion"]),
        (&json!(""), &json!(""))
    );
    // VirtualSize is gone from 1.44 on, as Docker's. ContainerConfig stays at every version
    // berthd serves: compose negotiates the newest (Docker 26 left it out from 1.45 on, and
    // compose 1.29 fails against it).
    let new = at("1.47");
    assert!(new.get("VirtualSize").is_none(), "{new}");
    // GraphDriver, which berth left out: the top layer's tree (busybox has one layer).
    assert_eq!(new["GraphDriver"]["Name"], "overlay2");
    let upper = std::path::PathBuf::from(new["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap());
    assert!(upper.join("bin/busybox").is_file(), "{}", upper.display());
    assert!(new["GraphDriver"]["Data"].get("LowerDir").is_none());
    // Before 1.25 the list's `filter=` names images (berthd listed them all).
    let listed = |path: &str| -> Vec<Value> {
        let r = d.req("GET", path, "");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json().as_array().unwrap().clone()
    };
    assert_eq!(listed("/v1.24/images/json?filter=busybox").len(), 1);
    assert!(listed("/v1.24/images/json?filter=nosuch").is_empty());
    assert_eq!(
        listed("/v1.47/images/json?filter=nosuch").len(),
        1,
        "only before 1.25"
    );
    // The list's rows carry VirtualSize before 1.44 (docker 20.10's CLI prints it as SIZE).
    let old_row = &listed("/v1.41/images/json")[0];
    assert_eq!(old_row["VirtualSize"], old_row["Size"], "{old_row}");
    assert!(old_row["Size"].as_i64().unwrap() > 0, "{old_row}");
    assert!(listed("/v1.47/images/json")[0].get("VirtualSize").is_none());
    // The image's Config has every field of Docker's, zero when the image sets none.
    for key in [
        "Entrypoint",
        "OnBuild",
        "AttachStdin",
        "Tty",
        "Hostname",
        "Image",
    ] {
        assert!(new["Config"].get(key).is_some(), "Config.{key}: {new}");
    }
    assert!(new["ContainerConfig"].is_object(), "{new}");
    assert_eq!(new["Parent"], "");
    // An imported image sets no environment, labels, volumes or ports: Docker shows null and
    // leaves `ExposedPorts` out (berth showed `[]` and `{}`), in Go's field order.
    for key in ["Env", "Labels", "Volumes"] {
        assert_eq!(new["Config"][key], Value::Null, "Config.{key}: {new}");
    }
    assert!(new["Config"].get("ExposedPorts").is_none(), "{new}");
    let text = d.req("GET", "/v1.47/images/busybox/json", "").text();
    assert!(
        text.starts_with(r#"{"Id":"sha256:"#) && text.contains(r#""Config":{"Hostname":"","#),
        "{text}"
    );
    // Metadata.LastTagTime, which berth left out: stamped by a tag given here.
    let before = chrono::Utc::now();
    let r = d.req("POST", "/images/busybox/tag?repo=stamped&tag=1", "");
    assert_eq!(r.status, 201, "{}", r.text());
    let r = d.req("GET", "/images/stamped:1/json", "");
    let stamp = r.json()["Metadata"]["LastTagTime"].clone();
    let at = chrono::DateTime::parse_from_rfc3339(stamp.as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{stamp}: {e}"));
    assert!(at >= before, "{at} {before}");
}

/// A removal refused because a container uses the image names the container, in moby's words;
/// by id a running container's image is refused even forced (moby's hard conflict: berth
/// untagged it and said only "a container").
#[test]
fn a_refused_removal_names_the_container_using_the_image() {
    require_root!();
    let d = TestDaemon::with_busybox("rmiuse");
    // An image with one tag (a commit): the busybox tags do not count.
    let src = format!("{}-src", d.prefix);
    d.cli_ok(&["create", "--name", &src, "busybox", "true"]);
    d.cli_ok(&["commit", &src, "rmiuse:only"]);
    d.cli_ok(&["rm", &src]);
    let image = d.cli_ok(&["image", "inspect", "-f", "{{.Id}}", "rmiuse:only"]);
    let short_image = &image["sha256:".len().."sha256:".len() + 12];
    let id = d.cli_ok(&[
        "create",
        "--name",
        &format!("{}-user", d.prefix),
        "rmiuse:only",
        "sleep",
        "600",
    ]);
    let err = |r: berth_test_support::Response| (r.status, r.json()["message"].clone());
    assert_eq!(
        err(d.req("DELETE", "/images/rmiuse:only", "")),
        (
            409,
            json!(format!(
                "conflict: unable to remove repository reference \"rmiuse:only\" (must force) - container {} is using its referenced image {short_image}",
                &id[..12]
            ))
        )
    );
    assert_eq!(
        err(d.req("DELETE", &format!("/images/{short_image}"), "")).1,
        json!(format!(
            "conflict: unable to delete {short_image} (must be forced) - image is being used by stopped container {}",
            &id[..12]
        ))
    );
    d.cli_ok(&["start", &id]);
    for force in ["0", "1"] {
        assert_eq!(
            err(d.req("DELETE", &format!("/images/{short_image}?force={force}"), "")),
            (
                409,
                json!(format!(
                    "conflict: unable to delete {short_image} (cannot be forced) - image is being used by running container {}",
                    &id[..12]
                ))
            )
        );
    }
    assert_eq!(
        d.cli_ok(&["image", "inspect", "-f", "{{.Id}}", "rmiuse:only"]),
        image,
        "the refused removals changed nothing"
    );
    d.remove_all();
}
