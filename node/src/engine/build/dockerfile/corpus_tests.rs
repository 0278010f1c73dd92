//! Every Dockerfile of the build corpus (`node/tests/build_corpus/*/Dockerfile`, the shapes
//! real projects use) parses; the integration test builds them and compares the images with
//! what Docker's classic builder recorded.

use super::*;

fn corpus() -> Vec<(String, String)> {
    // The variable cargo sets at run time first: the unprivileged run points it at a copy.
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    );
    let dir = root.join("tests/build_corpus");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Dockerfile").is_file())
        .map(|e| {
            let text = std::fs::read_to_string(e.path().join("Dockerfile")).unwrap();
            (e.file_name().to_string_lossy().into_owned(), text)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_corpus_has_at_least_twenty_dockerfiles_and_all_parse() {
    let all = corpus();
    assert!(all.len() >= 20, "only {} corpus Dockerfiles", all.len());
    for (name, text) in &all {
        let df = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!df.stages.is_empty(), "{name}");
    }
}

#[test]
fn the_corpus_covers_the_shapes_real_projects_use() {
    let all: Vec<Dockerfile> = corpus().iter().map(|(_, t)| parse(t).unwrap()).collect();
    let any = |f: &dyn Fn(&Dockerfile) -> bool| all.iter().any(f);
    let has = |f: &dyn Fn(&Instruction) -> bool| {
        any(&|d: &Dockerfile| {
            d.stages
                .iter()
                .flat_map(|s| &s.commands)
                .any(|c| f(&c.instruction))
        })
    };
    assert!(any(&|d| d.stages.len() > 1), "multi-stage");
    assert!(any(&|d| !d.meta_args.is_empty()), "ARG before FROM");
    assert!(any(&|d| d.escape == '`'), "escape directive");
    assert!(has(&|i| matches!(i, Instruction::Onbuild(_))), "ONBUILD");
    assert!(
        has(&|i| matches!(i, Instruction::Healthcheck(_))),
        "HEALTHCHECK"
    );
    assert!(
        has(&|i| matches!(i, Instruction::Copy(c) if c.chown.is_some())),
        "COPY --chown"
    );
    assert!(
        has(&|i| matches!(i, Instruction::Run(c, _) if !c.heredocs.is_empty())),
        "RUN heredoc"
    );
    assert!(
        has(&|i| matches!(i, Instruction::Copy(c) if !c.inline.is_empty())),
        "COPY heredoc"
    );
    assert!(
        has(&|i| matches!(i, Instruction::Copy(c) if c.from.is_some())),
        "COPY --from"
    );
    assert!(has(&|i| matches!(i, Instruction::Add(_))), "ADD");
    assert!(has(&|i| matches!(i, Instruction::Shell(_))), "SHELL");
    assert!(
        any(&|d| d
            .stages
            .iter()
            .flat_map(|s| &s.commands)
            .any(|c| c.source.contains("\\\n") || c.line > 0 && c.source.len() > 80)),
        "line continuations"
    );
}
