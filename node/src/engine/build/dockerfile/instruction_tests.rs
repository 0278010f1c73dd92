use super::*;
use crate::engine::build::dockerfile::{parse, Dockerfile};

fn df(src: &str) -> Dockerfile {
    parse(src).unwrap()
}

fn only(src: &str) -> Instruction {
    let d = df(&format!("FROM x\n{src}\n"));
    d.stages[0].commands[0].instruction.clone()
}

fn err(src: &str) -> String {
    parse(src).unwrap_err().to_string()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn stages_meta_args_names_and_platforms() {
    let d = df("ARG BASE=busybox\nARG V\nFROM --platform=$P ${BASE} AS Build\nRUN x\nfrom build\nCOPY --from=build a b\n");
    assert_eq!(d.meta_args.len(), 2);
    assert_eq!(d.stages.len(), 2);
    let s = &d.stages[0];
    assert_eq!(
        (
            s.base.as_str(),
            s.name.as_deref(),
            s.platform.as_deref(),
            s.line
        ),
        ("${BASE}", Some("build"), Some("$P"), 3)
    );
    assert_eq!(s.source, "FROM --platform=$P ${BASE} AS Build");
    assert_eq!(s.commands[0].line, 4);
    assert_eq!(d.stages[1].name, None);
}

#[test]
fn from_errors() {
    assert_eq!(
        err("FROM a b\n"),
        "dockerfile parse error line 1: FROM requires either one or three arguments"
    );
    assert_eq!(
        err("FROM busybox AS 1x\n"),
        "dockerfile parse error line 1: invalid name for build stage: \"1x\", name can't start with a number or contain symbols"
    );
    assert_eq!(
        err("ENV A=1\nFROM busybox\n"),
        "dockerfile parse error line 1: no build stage in current context"
    );
    assert_eq!(
        err("FROM busybox\nFOO bar\n"),
        "dockerfile parse error line 2: unknown instruction: FOO"
    );
}

#[test]
fn run_cmd_entrypoint_shell_and_exec_forms() {
    assert_eq!(
        only("RUN echo \"a b\"  &&  true"),
        Instruction::Run(
            CommandLine {
                args: strings(&["echo \"a b\"  &&  true"]),
                shell_form: true,
                heredocs: vec![]
            },
            vec![]
        )
    );
    assert_eq!(
        only("CMD [\"sh\", \"-c\", \"x\"]"),
        Instruction::Cmd(CommandLine {
            args: strings(&["sh", "-c", "x"]),
            shell_form: false,
            heredocs: vec![]
        })
    );
    assert_eq!(
        only("ENTRYPOINT []"),
        Instruction::Entrypoint(CommandLine {
            args: vec![],
            shell_form: false,
            heredocs: vec![]
        })
    );
    let Instruction::Run(_, flags) = only("RUN --mount=type=cache,target=/x --network=none true")
    else {
        panic!()
    };
    assert_eq!(flags, ["mount", "network"]);
    assert!(err("FROM x\nRUN --bogus true\n").contains("line 2: unknown flag: bogus"));
    assert!(err("FROM x\nCMD [1]\n").contains("arrays must be comprised of strings only"));
}

#[test]
fn env_label_arg_forms() {
    assert_eq!(
        only("ENV A=1 B=\"two words\""),
        Instruction::Env(vec![
            KeyValue {
                key: "A".into(),
                value: "1".into()
            },
            KeyValue {
                key: "B".into(),
                value: "\"two words\"".into()
            },
        ])
    );
    assert_eq!(
        only("ENV LEGACY some value"),
        Instruction::Env(vec![KeyValue {
            key: "LEGACY".into(),
            value: "some value".into()
        }])
    );
    assert_eq!(
        only("ARG A B=2 C="),
        Instruction::Arg(vec![
            ArgDecl {
                name: "A".into(),
                default: None
            },
            ArgDecl {
                name: "B".into(),
                default: Some("2".into())
            },
            ArgDecl {
                name: "C".into(),
                default: Some(String::new())
            },
        ])
    );
    assert!(err("FROM x\nENV\n").ends_with("line 2: ENV requires at least one argument"));
    assert!(err("FROM x\nLABEL =x\n").ends_with("LABEL names can not be blank"));
    assert!(err("FROM x\nARG =x\n").ends_with("ARG names can not be blank"));
}

#[test]
fn copy_and_add_sources_flags_and_heredocs() {
    let Instruction::Copy(c) = only("COPY --from=build --chown=1:2 --chmod=644 a b* /dst/") else {
        panic!()
    };
    assert_eq!(c.sources, ["a", "b*"]);
    assert_eq!(c.dest, "/dst/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("1:2"));
    assert_eq!(c.chmod.as_deref(), Some("644"));
    assert!(c.buildkit_flags.is_empty());
    let Instruction::Add(a) = only("ADD [\"a b\", \"/c d/\"]") else {
        panic!()
    };
    assert_eq!(
        (a.sources, a.dest),
        (strings(&["a b"]), "/c d/".to_string())
    );
    let Instruction::Copy(c) = only("COPY --link a /b") else {
        panic!()
    };
    assert_eq!(c.buildkit_flags, ["link"]);
    assert!(err("FROM x\nADD --from=x a b\n").contains("unknown flag: from"));
    assert_eq!(
        err("FROM x\nCOPY x\n"),
        "dockerfile parse error line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    let d = df("FROM x\nCOPY <<-EOF <<'RAW' /dst/\n\thello $A\n\tEOF\n$B\nRAW\n");
    let Instruction::Copy(c) = &d.stages[0].commands[0].instruction else {
        panic!()
    };
    assert!(c.sources.is_empty());
    assert_eq!(
        c.inline[0],
        InlineSource {
            name: "EOF".into(),
            content: "hello $A\n".into(),
            expand: true
        }
    );
    assert_eq!(
        c.inline[1],
        InlineSource {
            name: "RAW".into(),
            content: "$B\n".into(),
            expand: false
        }
    );
    assert!(
        err("FROM x\nCOPY a <<EOF\nx\nEOF\n").contains("cannot accept a heredoc as a destination")
    );
}

#[test]
fn run_heredocs_stay_with_their_command() {
    let d = df("FROM x\nRUN <<EOF\nset -e\necho hi\nEOF\nRUN cat <<A > /f\nline\nA\n");
    let Instruction::Run(cmd, _) = &d.stages[0].commands[0].instruction else {
        panic!()
    };
    assert_eq!(cmd.args, ["<<EOF"]);
    assert_eq!(cmd.heredocs[0].content, "set -e\necho hi\n");
    let Instruction::Run(cmd, _) = &d.stages[0].commands[1].instruction else {
        panic!()
    };
    assert_eq!(cmd.heredocs[0].name, "A");
    assert_eq!(d.stages[0].commands[1].line, 6);
}

#[test]
fn single_argument_instructions() {
    assert_eq!(only("WORKDIR /a b"), Instruction::Workdir("/a b".into()));
    assert_eq!(
        only("USER nobody:nogroup"),
        Instruction::User("nobody:nogroup".into())
    );
    assert_eq!(
        only("STOPSIGNAL SIGINT"),
        Instruction::StopSignal("SIGINT".into())
    );
    assert_eq!(
        only("MAINTAINER Jane <j@x>"),
        Instruction::Maintainer("Jane <j@x>".into())
    );
    assert!(err("FROM x\nWORKDIR\n").ends_with("WORKDIR requires exactly one argument"));
    assert!(err("FROM x\nUSER\n").ends_with("USER requires exactly one argument"));
}

#[test]
fn volume_expose_shell() {
    assert_eq!(
        only("VOLUME /a /b"),
        Instruction::Volume(strings(&["/a", "/b"]))
    );
    assert_eq!(
        only("VOLUME [\"/c\"]"),
        Instruction::Volume(strings(&["/c"]))
    );
    assert_eq!(
        only("EXPOSE 8080 53/udp 80"),
        Instruction::Expose(strings(&["53/udp", "80", "8080"]))
    );
    assert_eq!(
        only("SHELL [\"/bin/bash\", \"-c\"]"),
        Instruction::Shell(strings(&["/bin/bash", "-c"]))
    );
    assert!(err("FROM x\nSHELL /bin/bash -c\n")
        .contains("SHELL requires the arguments to be in JSON form"));
    assert!(err("FROM x\nVOLUME [\"\"]\n").contains("VOLUME specified can not be an empty string"));
}

#[test]
fn healthchecks() {
    let Instruction::Healthcheck(h) =
        only("HEALTHCHECK --interval=5s --timeout=3s --retries=4 CMD curl -f http://localhost/")
    else {
        panic!()
    };
    assert_eq!(h.test, ["CMD-SHELL", "curl -f http://localhost/"]);
    assert_eq!(
        (h.interval, h.timeout, h.retries),
        (5_000_000_000, 3_000_000_000, 4)
    );
    let Instruction::Healthcheck(h) = only("HEALTHCHECK CMD [\"/bin/check\", \"-q\"]") else {
        panic!()
    };
    assert_eq!(h.test, ["CMD", "/bin/check", "-q"]);
    let Instruction::Healthcheck(h) = only("HEALTHCHECK none") else {
        panic!()
    };
    assert_eq!(h.test, ["NONE"]);
    assert!(err("FROM x\nHEALTHCHECK NONE x\n").contains("HEALTHCHECK NONE takes no arguments"));
    assert!(err("FROM x\nHEALTHCHECK FOO x\n")
        .contains("Unknown type \"FOO\" in HEALTHCHECK (try CMD)"));
    assert!(err("FROM x\nHEALTHCHECK CMD\n").contains("Missing command after HEALTHCHECK CMD"));
    assert!(err("FROM x\nHEALTHCHECK --interval=1us CMD x\n").contains("cannot be less than 1ms"));
    assert!(err("FROM x\nHEALTHCHECK --retries=-1 CMD x\n")
        .contains("--retries cannot be negative (-1)"));
}

#[test]
fn onbuild_keeps_the_trigger_as_written() {
    assert_eq!(
        only("ONBUILD  RUN echo $A"),
        Instruction::Onbuild("RUN echo $A".into())
    );
    assert_eq!(
        only("onbuild COPY . /app"),
        Instruction::Onbuild("COPY . /app".into())
    );
    assert!(err("FROM x\nONBUILD ONBUILD RUN x\n")
        .contains("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"));
    assert!(err("FROM x\nONBUILD FROM y\n").contains("FROM isn't allowed as an ONBUILD trigger"));
    let d = df("FROM x\nONBUILD RUN <<EOF\necho hi\nEOF\n");
    assert_eq!(
        d.stages[0].commands[0].instruction,
        Instruction::Onbuild("RUN <<EOF\necho hi\nEOF".into())
    );
}

#[test]
fn chomp_removes_leading_tabs_per_line() {
    assert_eq!(chomp("\t\ta\n\tb\nc\t\n"), "a\nb\nc\t\n");
}
