use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::engine::build::fake::{Call, FakeBackend};
use crate::engine::build::sources::ContextTree;
use crate::engine::build::{BuildEvent, FileOp, FileSource};

struct Run {
    id: Result<String>,
    text: String,
}

fn context() -> (tempfile::TempDir, ContextTree) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/file.txt"), "hello\n").unwrap();
    let sums = HashMap::from([
        ("sub/file.txt".to_string(), "filesum".to_string()),
        ("sub".to_string(), "dirsum".to_string()),
    ]);
    let root = dir.path().to_path_buf();
    (dir, ContextTree { root, sums })
}

fn build_with(backend: &FakeBackend, df: &str, opts: &BuildOptions) -> Run {
    let (_dir, ctx) = context();
    let (out, mut rx) = BuildOutput::channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let id = rt.block_on(build(backend, &ctx, df, opts, &out));
    drop(out);
    let mut text = String::new();
    while let Ok(ev) = rx.try_recv() {
        if let BuildEvent::Stream(s) = ev {
            text.push_str(&s);
        }
    }
    Run { id, text }
}

fn opts() -> BuildOptions {
    BuildOptions {
        remove: true,
        tags: vec!["app:1".into()],
        ..Default::default()
    }
}

fn history(b: &FakeBackend, id: &str) -> Vec<String> {
    let img = b.image(id).unwrap();
    img.config
        .history
        .iter()
        .map(|h| h["created_by"].as_str().unwrap_or("").to_string())
        .collect()
}

const APP: &str = "FROM busybox:latest AS base\nARG V=default\nENV APP_V=$V\nWORKDIR /app\nCOPY sub/file.txt ./\nRUN echo \"built-$V\" > built.txt\nLABEL org.example.role=bct\nEXPOSE 8080\nUSER nobody\nCMD [\"sh\", \"-c\", \"cat built.txt\"]\n";

#[test]
fn steps_history_and_config_read_as_the_classic_builders() {
    let b = FakeBackend::new();
    let mut o = opts();
    o.build_args = BTreeMap::from([("V".to_string(), Some("x".to_string()))]);
    let run = build_with(&b, APP, &o);
    let id = run.id.unwrap();
    assert!(
        run.text
            .starts_with("Step 1/10 : FROM busybox:latest AS base\n ---> busybox\n"),
        "{}",
        run.text
    );
    assert!(run
        .text
        .contains("Step 6/10 : RUN echo \"built-$V\" > built.txt\n ---> Running in c"));
    assert!(run.text.ends_with(&format!(
        "Successfully built {}\nSuccessfully tagged app:1\n",
        short_id(&id)
    )));
    let shown = history(&b, &id);
    assert_eq!(
        shown[1..],
        [
            "/bin/sh -c #(nop)  ARG V=default",
            "/bin/sh -c #(nop)  ENV APP_V=x",
            "/bin/sh -c #(nop) WORKDIR /app",
            "/bin/sh -c #(nop) COPY file:filesum in ./ ",
            "|1 V=x /bin/sh -c echo \"built-$V\" > built.txt",
            "/bin/sh -c #(nop)  LABEL org.example.role=bct",
            "/bin/sh -c #(nop)  EXPOSE 8080",
            "/bin/sh -c #(nop)  USER nobody",
            "/bin/sh -c #(nop)  CMD [\"sh\" \"-c\" \"cat built.txt\"]",
        ]
    );
    let img = b.image(&id).unwrap().config;
    assert_eq!(
        img.config.env,
        [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "APP_V=x"
        ]
    );
    assert_eq!(img.config.working_dir, "/app");
    assert_eq!(img.config.user, "nobody");
    assert_eq!(img.rootfs.diff_ids.len(), 4);
    assert_eq!(img.history[2]["empty_layer"], true);
    assert!(img.history[3].get("empty_layer").is_none());
    // The RUN container saw the argument and ran the shell form with no entrypoint.
    let run_cfg = b
        .calls()
        .into_iter()
        .find_map(|c| match c {
            Call::Run { config, .. } => Some(*config),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        run_cfg.cmd.unwrap(),
        ["/bin/sh", "-c", "echo \"built-$V\" > built.txt"]
    );
    assert!(run_cfg.env.contains(&"V=x".to_string()));
    assert_eq!(run_cfg.entrypoint, Some(vec![]));
    let copy = b
        .calls()
        .into_iter()
        .find_map(|c| match c {
            Call::ApplyFiles { ops, .. }
                if ops.len() == 1 && matches!(ops[0], FileOp::Copy { .. }) =>
            {
                Some(ops)
            }
            _ => None,
        })
        .unwrap();
    let FileOp::Copy {
        source: FileSource::Tree { rel, .. },
        dest,
        chown,
        keep_owner,
        ..
    } = &copy[0]
    else {
        panic!()
    };
    assert_eq!(
        (rel.as_str(), dest.as_str(), chown, *keep_owner),
        ("sub/file.txt", "/app/", &None, false)
    );
}

#[test]
fn an_unchanged_rebuild_is_all_cache_hits() {
    let b = FakeBackend::new();
    let first = build_with(&b, APP, &opts()).id.unwrap();
    let runs = b
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Run { .. }))
        .count();
    let again = build_with(&b, APP, &opts());
    assert_eq!(again.id.unwrap(), first);
    assert_eq!(again.text.matches(" ---> Using cache\n").count(), 9);
    assert_eq!(
        b.calls()
            .iter()
            .filter(|c| matches!(c, Call::Run { .. }))
            .count(),
        runs
    );
    // Another argument value is another RUN.
    let mut o = opts();
    o.build_args = BTreeMap::from([("V".to_string(), Some("y".to_string()))]);
    let third = build_with(&b, APP, &o);
    assert_ne!(third.id.unwrap(), first);
    assert_eq!(third.text.matches("Using cache").count(), 1);
    // --no-cache uses none.
    let fourth = build_with(
        &b,
        APP,
        &BuildOptions {
            no_cache: true,
            ..opts()
        },
    );
    assert_eq!(fourth.text.matches("Using cache").count(), 0);
}

#[test]
fn a_failing_run_reports_its_exit_code() {
    let b = FakeBackend::new();
    b.exit_codes.lock().unwrap().push(7);
    let run = build_with(&b, "FROM busybox:latest\nRUN exit 7\n", &opts());
    match run.id {
        Err(EngineError::StepFailed { message, code }) => {
            assert_eq!(code, 7);
            assert_eq!(
                message,
                "The command '/bin/sh -c exit 7' returned a non-zero code: 7"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_the_stages_the_target_needs_run() {
    let df = "FROM busybox AS a\nRUN echo a\nFROM busybox AS unused\nRUN echo unused\nFROM busybox AS b\nCOPY --from=a /x /y\nFROM b AS final\nRUN echo final\n";
    let b = FakeBackend::new();
    // Held to the end of the test, which removes it.
    let (files, _) = context();
    *b.files_root.lock().unwrap() = Some(files.path().to_path_buf());
    let run = build_with(
        &b,
        df,
        &BuildOptions {
            target: Some("B".into()),
            ..opts()
        },
    );
    let err = run.id.unwrap_err().to_string();
    // Stage `a` ran, `unused` did not; the copy looked in a's files.
    assert!(err.contains("stat x: file does not exist"), "{err}");
    let ran: Vec<String> = b
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Run { config, .. } => config.cmd.map(|c| c.join(" ")),
            _ => None,
        })
        .collect();
    assert_eq!(ran, ["/bin/sh -c echo a"]);
    let run = build_with(
        &b,
        df,
        &BuildOptions {
            target: Some("nope".into()),
            ..opts()
        },
    );
    assert_eq!(
        run.id.unwrap_err().to_string(),
        "failed to reach build target nope in Dockerfile"
    );
    let all = build_with(&b, "FROM busybox AS a\nRUN echo a\nFROM busybox AS unused\nRUN echo u\nFROM a\nRUN echo final\n", &opts());
    assert!(all.id.is_ok());
    assert!(all.text.contains("Step 3/4 : FROM a\n"), "{}", all.text);
}

#[test]
fn onbuild_triggers_run_in_the_child_stage() {
    let df = "FROM busybox AS parent\nONBUILD ENV TRIGGERED=yes\nONBUILD RUN echo child\nFROM parent\nRUN echo after\n";
    let b = FakeBackend::new();
    let run = build_with(&b, df, &opts());
    let id = run.id.unwrap();
    assert!(run.text.contains("# Executing 2 build triggers\n"));
    let h = history(&b, &id);
    assert_eq!(
        h[h.len() - 3..],
        [
            "/bin/sh -c #(nop)  ENV TRIGGERED=yes",
            "/bin/sh -c echo child",
            "/bin/sh -c echo after"
        ]
    );
    let cfg = b.image(&id).unwrap().config.config;
    assert!(cfg.env.contains(&"TRIGGERED=yes".to_string()));
    assert!(!cfg.extra.contains_key("OnBuild"));
}

#[test]
fn buildkit_only_flags_are_refused_by_name() {
    let b = FakeBackend::new();
    let err = build_with(
        &b,
        "FROM busybox\nRUN --mount=type=cache,target=/x true\n",
        &opts(),
    )
    .id
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the --mount option requires BuildKit."),
        "{err}"
    );
    let err = build_with(&b, "FROM busybox\nCOPY --link a /b\n", &opts())
        .id
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the --link option requires BuildKit."),
        "{err}"
    );
}

#[test]
fn heredocs_entrypoint_shell_healthcheck_and_unused_args() {
    let df = "FROM busybox\nSHELL [\"/bin/ash\", \"-c\"]\nRUN <<EOF\necho one\necho two\nEOF\nRUN cat <<X > /f\nbody\nX\nENTRYPOINT [\"/e\"]\nHEALTHCHECK --interval=5s --retries=3 CMD true\nSTOPSIGNAL SIGQUIT\n";
    let b = FakeBackend::new();
    let o = BuildOptions {
        build_args: BTreeMap::from([("NOPE".to_string(), Some("1".to_string()))]),
        ..opts()
    };
    let run = build_with(&b, df, &o);
    let id = run.id.unwrap();
    let h = history(&b, &id);
    assert_eq!(h[1], "/bin/ash -c #(nop)  SHELL [/bin/ash -c]");
    assert_eq!(h[2], "/bin/ash -c echo one\necho two\n");
    assert_eq!(h[3], "/bin/ash -c cat <<X > /f\nbody\nX");
    assert_eq!(h[4], "/bin/ash -c #(nop)  ENTRYPOINT [\"/e\"]");
    assert_eq!(
        h[5],
        "/bin/ash -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"true\"] \"5s\" \"0s\" \"0s\" '\\x03'}"
    );
    let cfg = b.image(&id).unwrap().config.config;
    assert_eq!(cfg.cmd, None);
    assert_eq!(cfg.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(cfg.extra["Healthcheck"]["Interval"], 5_000_000_000_i64);
    assert!(run
        .text
        .contains("[Warning] One or more build-args [NOPE] were not consumed\n"));
}

#[test]
fn copy_rules_chown_from_and_multiple_sources() {
    let b = FakeBackend::new();
    let run = build_with(
        &b,
        "FROM busybox\nCOPY --chown=1:2 --chmod=600 sub/file.txt sub /dst/\n",
        &opts(),
    );
    let id = run.id.unwrap();
    let h = history(&b, &id);
    assert!(
        h[1].starts_with("/bin/sh -c #(nop) COPY --chown=1:2multi:"),
        "{}",
        h[1]
    );
    let err = build_with(&b, "FROM busybox\nCOPY sub/file.txt sub /dst\n", &opts())
        .id
        .unwrap_err();
    assert_eq!(err.to_string(), "When using COPY with more than one source file, the destination must be a directory and end with a /");
    let err = build_with(&b, "FROM busybox\nCOPY missing /x\n", &opts())
        .id
        .unwrap_err();
    assert_eq!(err.to_string(), "COPY failed: file not found in build context or excluded by .dockerignore: stat missing: file does not exist");
    let err = build_with(&b, "FROM busybox\nCOPY --from=0 /a /b\n", &opts())
        .id
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid from flag value 0: refers to current build stage"
    );
    for (line, words) in [
        (
            "ADD ftp://example.com/x /x",
            "downloading ftp://example.com/x is not supported: ADD fetches http and https URLs",
        ),
        (
            "COPY http://example.com/x /x",
            "COPY failed: source can't be a URL for COPY",
        ),
    ] {
        let err = build_with(&b, &format!("FROM busybox\n{line}\n"), &opts())
            .id
            .unwrap_err();
        assert!(err.to_string().contains(words), "{line}: {err}");
    }
}

#[test]
fn global_args_parameterise_from() {
    let b = FakeBackend::new();
    let run = build_with(
        &b,
        "ARG BASE=busybox\nARG TAG\nFROM ${BASE}:${TAG:-latest}\nARG BASE\nRUN echo $BASE\n",
        &opts(),
    );
    let id = run.id.unwrap();
    assert!(run.text.starts_with("Step 1/5 : ARG BASE=busybox\n\nStep 2/5 : ARG TAG\n\nStep 3/5 : FROM ${BASE}:${TAG:-latest}\n") || run.text.starts_with("Step 1/5 : ARG BASE=busybox\nStep 2/5"), "{}", run.text);
    assert!(b.calls().contains(&Call::BaseImage {
        name: "busybox:latest".into(),
        pull: false
    }));
    assert_eq!(
        history(&b, &id).last().unwrap(),
        "|1 BASE=busybox /bin/sh -c echo $BASE"
    );
    let err = build_with(&b, "FROM nosuch\n", &opts()).id.unwrap_err();
    assert_eq!(err.to_string(), "No such image: nosuch");
}
