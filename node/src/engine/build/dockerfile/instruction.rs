//! Typed instructions from logical lines, with buildkit's argument rules and error wording.
//! Variables are not substituted here: that needs the build's environment, so the strings
//! keep their quotes and `$`s and the dispatcher expands the ones Docker expands.

use super::flags::{FlagKind, Flags};
use super::lines::{parse_heredoc, Heredoc, LogicalLine};
use super::split::{parse_json, parse_name_values, parse_words, split_command, whitespace_words};
use super::ParseError;

/// One `key=value` of ENV or LABEL, unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// One name of an ARG, with its default when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// A command in shell form (`RUN echo hi`: one string, run by the shell) or exec form
/// (`RUN ["echo", "hi"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub args: Vec<String>,
    pub shell_form: bool,
    /// Heredoc bodies that follow the line (shell form only).
    pub heredocs: Vec<Heredoc>,
}

/// A file whose content is written in the Dockerfile (`COPY <<EOF /dest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineSource {
    /// The heredoc's name, which is also the file's name.
    pub name: String,
    pub content: String,
    /// Whether `$VARS` in the content are substituted.
    pub expand: bool,
}

/// COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    pub sources: Vec<String>,
    pub inline: Vec<InlineSource>,
    pub dest: String,
    /// `--from=stage|image|index` (COPY only).
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    /// Flags only BuildKit implements (`--link`, `--exclude`, ...): refused when the step runs.
    pub buildkit_flags: Vec<String>,
}

/// HEALTHCHECK: durations in nanoseconds, as the image config stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

/// One instruction, arguments unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Maintainer(String),
    Arg(Vec<ArgDecl>),
    /// The command and the RUN flags given (only BuildKit implements any of them).
    Run(CommandLine, Vec<String>),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Shell(Vec<String>),
    Copy(CopyArgs),
    Add(CopyArgs),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    Expose(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// The trigger, as written after `ONBUILD`.
    Onbuild(String),
}

/// An instruction where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// 1-based line of the instruction.
    pub line: usize,
    /// The instruction as written (continuations joined), as `Step N/M :` prints it.
    pub source: String,
    pub instruction: Instruction,
}

/// A `FROM` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The image, `scratch`, or an earlier stage's name (unexpanded).
    pub base: String,
    /// `AS name`, lower case.
    pub name: Option<String>,
    /// `--platform=` (unexpanded).
    pub platform: Option<String>,
    pub line: usize,
    pub source: String,
    pub commands: Vec<Command>,
}

/// What a logical line is.
pub enum Parsed {
    From(Stage),
    Command(Command),
}

/// The instructions a Dockerfile may use.
pub const INSTRUCTIONS: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Parses one logical line. Errors carry the line.
pub fn parse_line(line: &LogicalLine, escape: char) -> Result<Parsed, ParseError> {
    parse_text(&line.text, &line.heredocs, escape, line.start).map_err(|e| e.at(line.start))
}

fn parse_text(
    text: &str,
    heredocs: &[Heredoc],
    escape: char,
    line: usize,
) -> Result<Parsed, ParseError> {
    let (word, flag_words, rest) = split_command(text, escape);
    let keyword = word.to_ascii_lowercase();
    let source = text.trim().to_string();
    let none: &[(&str, FlagKind)] = &[];
    let instruction = match keyword.as_str() {
        "from" => return parse_from(&flag_words, &rest, line, source).map(Parsed::From),
        "env" | "label" => {
            Flags::parse(&flag_words, none)?;
            let upper = keyword.to_ascii_uppercase();
            let pairs = parse_name_values(&rest, &upper, escape)?;
            if pairs.is_empty() {
                return Err(ParseError::plain(format!(
                    "{upper} requires at least one argument"
                )));
            }
            let mut out = Vec::new();
            for (key, value, _) in pairs {
                if key.is_empty() {
                    return Err(ParseError::plain(format!("{upper} names can not be blank")));
                }
                out.push(KeyValue { key, value });
            }
            if keyword == "env" {
                Instruction::Env(out)
            } else {
                Instruction::Label(out)
            }
        }
        "maintainer" => {
            Flags::parse(&flag_words, none)?;
            Instruction::Maintainer(exactly_one("MAINTAINER", &rest)?)
        }
        "arg" => {
            Flags::parse(&flag_words, none)?;
            Instruction::Arg(parse_arg(&rest, escape)?)
        }
        "run" => {
            let flags = Flags::parse(&flag_words, RUN_FLAGS)?;
            Instruction::Run(command_line(&rest, heredocs)?, flags.used())
        }
        "cmd" => {
            Flags::parse(&flag_words, none)?;
            Instruction::Cmd(command_line(&rest, heredocs)?)
        }
        "entrypoint" => {
            Flags::parse(&flag_words, none)?;
            Instruction::Entrypoint(command_line(&rest, heredocs)?)
        }
        "shell" => {
            Flags::parse(&flag_words, none)?;
            match parse_json(&rest)? {
                Some(v) if !v.is_empty() => Instruction::Shell(v),
                _ if rest.is_empty() || rest.trim() == "[]" => {
                    return Err(ParseError::plain("SHELL requires at least one argument"))
                }
                _ => {
                    return Err(ParseError::plain(format!(
                        "SHELL requires the arguments to be in JSON form: {source}"
                    )))
                }
            }
        }
        "copy" | "add" => parse_copy(&keyword, &flag_words, &rest, heredocs)?,
        "workdir" => {
            Flags::parse(&flag_words, none)?;
            Instruction::Workdir(exactly_one("WORKDIR", &rest)?)
        }
        "user" => {
            Flags::parse(&flag_words, none)?;
            Instruction::User(exactly_one("USER", &rest)?)
        }
        "stopsignal" => Instruction::StopSignal(exactly_one("STOPSIGNAL", &rest)?),
        "volume" => {
            Flags::parse(&flag_words, none)?;
            let list = json_or_words(&rest)?;
            if list.is_empty() {
                return Err(ParseError::plain("VOLUME requires at least one argument"));
            }
            let mut out = Vec::new();
            for v in list {
                let v = v.trim();
                if v.is_empty() {
                    return Err(ParseError::plain(
                        "VOLUME specified can not be an empty string",
                    ));
                }
                out.push(v.to_string());
            }
            Instruction::Volume(out)
        }
        "expose" => {
            Flags::parse(&flag_words, none)?;
            let mut ports = whitespace_words(&rest);
            if ports.is_empty() {
                return Err(ParseError::plain("EXPOSE requires at least one argument"));
            }
            ports.sort();
            Instruction::Expose(ports)
        }
        "healthcheck" => Instruction::Healthcheck(parse_healthcheck(&flag_words, &rest)?),
        "onbuild" => Instruction::Onbuild(parse_onbuild(text, &rest, heredocs, escape)?),
        _ => {
            return Err(ParseError::plain(format!(
                "unknown instruction: {}",
                word.to_ascii_uppercase()
            )))
        }
    };
    Ok(Parsed::Command(Command {
        line,
        source,
        instruction,
    }))
}

const RUN_FLAGS: &[(&str, FlagKind)] = &[
    ("mount", FlagKind::List),
    ("network", FlagKind::Text),
    ("security", FlagKind::Text),
    ("device", FlagKind::List),
];

fn exactly_one(keyword: &str, rest: &str) -> Result<String, ParseError> {
    // MAINTAINER, USER, WORKDIR and STOPSIGNAL take the rest of the line as one argument.
    if rest.is_empty() {
        return Err(ParseError::plain(format!(
            "{keyword} requires exactly one argument"
        )));
    }
    Ok(rest.to_string())
}

fn json_or_words(rest: &str) -> Result<Vec<String>, ParseError> {
    Ok(match parse_json(rest)? {
        Some(v) => v,
        None => whitespace_words(rest),
    })
}

fn command_line(rest: &str, heredocs: &[Heredoc]) -> Result<CommandLine, ParseError> {
    Ok(match parse_json(rest)? {
        Some(args) => CommandLine {
            args,
            shell_form: false,
            heredocs: Vec::new(),
        },
        None => CommandLine {
            args: if rest.is_empty() {
                Vec::new()
            } else {
                vec![rest.to_string()]
            },
            shell_form: true,
            heredocs: heredocs.to_vec(),
        },
    })
}

fn parse_from(
    flag_words: &[String],
    rest: &str,
    line: usize,
    source: String,
) -> Result<Stage, ParseError> {
    let flags = Flags::parse(flag_words, &[("platform", FlagKind::Text)])?;
    let args = whitespace_words(rest);
    let name = match args.as_slice() {
        [_] => None,
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let lower = name.to_ascii_lowercase();
            let mut chars = lower.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return Err(ParseError::plain(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                )));
            }
            Some(lower)
        }
        _ => {
            return Err(ParseError::plain(
                "FROM requires either one or three arguments",
            ))
        }
    };
    Ok(Stage {
        base: args[0].clone(),
        name,
        platform: flags.text("platform"),
        line,
        source,
        commands: Vec::new(),
    })
}

fn parse_arg(rest: &str, escape: char) -> Result<Vec<ArgDecl>, ParseError> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Err(ParseError::plain("ARG requires at least one argument"));
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(ParseError::plain("ARG names can not be blank")),
            Some((k, v)) => Ok(ArgDecl {
                name: k.to_string(),
                default: Some(v.to_string()),
            }),
            None => Ok(ArgDecl {
                name: w,
                default: None,
            }),
        })
        .collect()
}

fn parse_copy(
    keyword: &str,
    flag_words: &[String],
    rest: &str,
    heredocs: &[Heredoc],
) -> Result<Instruction, ParseError> {
    let upper = keyword.to_ascii_uppercase();
    let is_copy = keyword == "copy";
    let known: &[(&str, FlagKind)] = if is_copy {
        &[
            ("chown", FlagKind::Text),
            ("from", FlagKind::Text),
            ("chmod", FlagKind::Text),
            ("link", FlagKind::Bool),
            ("exclude", FlagKind::List),
            ("parents", FlagKind::Bool),
        ]
    } else {
        &[
            ("chown", FlagKind::Text),
            ("chmod", FlagKind::Text),
            ("link", FlagKind::Bool),
            ("keep-git-dir", FlagKind::Bool),
            ("checksum", FlagKind::Text),
            ("unpack", FlagKind::Bool),
            ("exclude", FlagKind::List),
        ]
    };
    let flags = Flags::parse(flag_words, known)?;
    let args = json_or_words(rest)?;
    let Some((dest, srcs)) = args.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(ParseError::plain(format!(
            "{upper} requires at least two arguments, but only one was provided. Destination could not be determined"
        )));
    };
    if parse_heredoc(dest)?.is_some() {
        return Err(ParseError::plain(format!(
            "{upper} cannot accept a heredoc as a destination"
        )));
    }
    let mut out = CopyArgs {
        dest: dest.clone(),
        from: flags.text("from"),
        chown: flags.text("chown"),
        chmod: flags.text("chmod"),
        buildkit_flags: flags
            .used()
            .into_iter()
            .filter(|f| !["from", "chown", "chmod"].contains(&f.as_str()))
            .collect(),
        ..Default::default()
    };
    for src in srcs {
        match parse_heredoc(src)? {
            Some(doc) => {
                let body = heredocs.iter().find(|h| h.name == doc.name);
                let mut content = body.map(|h| h.content.clone()).unwrap_or_default();
                if doc.chomp {
                    content = chomp(&content);
                }
                out.inline.push(InlineSource {
                    name: doc.name,
                    content,
                    expand: doc.expand,
                });
            }
            None => out.sources.push(src.clone()),
        }
    }
    Ok(if is_copy {
        Instruction::Copy(out)
    } else {
        Instruction::Add(out)
    })
}

/// `<<-`: leading tabs removed from every line.
pub fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

fn parse_healthcheck(flag_words: &[String], rest: &str) -> Result<Healthcheck, ParseError> {
    let (kind, cmd) = match rest.split_once(char::is_whitespace) {
        Some((k, c)) => (k, c.trim_start()),
        None => (rest, ""),
    };
    if kind.is_empty() {
        return Err(ParseError::plain(
            "HEALTHCHECK requires at least one argument",
        ));
    }
    let kind = kind.to_ascii_uppercase();
    let mut hc = Healthcheck {
        test: Vec::new(),
        interval: 0,
        timeout: 0,
        start_period: 0,
        start_interval: 0,
        retries: 0,
    };
    if kind == "NONE" {
        if !cmd.is_empty() {
            return Err(ParseError::plain("HEALTHCHECK NONE takes no arguments"));
        }
        hc.test = vec![kind];
        return Ok(hc);
    }
    let flags = Flags::parse(
        flag_words,
        &[
            ("interval", FlagKind::Text),
            ("timeout", FlagKind::Text),
            ("start-period", FlagKind::Text),
            ("start-interval", FlagKind::Text),
            ("retries", FlagKind::Text),
        ],
    )?;
    if kind != "CMD" {
        return Err(ParseError::plain(format!(
            "Unknown type \"{kind}\" in HEALTHCHECK (try CMD)"
        )));
    }
    let line = command_line(cmd, &[])?;
    if line.args.is_empty() {
        return Err(ParseError::plain("Missing command after HEALTHCHECK CMD"));
    }
    hc.test = if line.shell_form {
        vec!["CMD-SHELL".to_string(), line.args.join(" ")]
    } else {
        std::iter::once("CMD".to_string())
            .chain(line.args)
            .collect()
    };
    let interval = |name: &str| -> Result<i64, ParseError> {
        let Some(v) = flags.text(name).filter(|v| !v.is_empty()) else {
            return Ok(0);
        };
        let d = super::duration::parse_go_duration(&v).map_err(ParseError::plain)?;
        if d != 0 && d < 1_000_000 {
            return Err(ParseError::plain(format!(
                "Interval \"{name}\" cannot be less than 1ms"
            )));
        }
        Ok(d)
    };
    hc.interval = interval("interval")?;
    hc.timeout = interval("timeout")?;
    hc.start_period = interval("start-period")?;
    hc.start_interval = interval("start-interval")?;
    if let Some(r) = flags.text("retries").filter(|r| !r.is_empty()) {
        let n: i64 = r.parse().map_err(|_| {
            ParseError::plain(format!("strconv.ParseInt: parsing {r:?}: invalid syntax"))
        })?;
        if n < 0 {
            return Err(ParseError::plain(format!(
                "--retries cannot be negative ({n})"
            )));
        }
        hc.retries = n;
    }
    Ok(hc)
}

fn parse_onbuild(
    text: &str,
    rest: &str,
    heredocs: &[Heredoc],
    escape: char,
) -> Result<String, ParseError> {
    if rest.is_empty() {
        return Err(ParseError::plain("ONBUILD requires at least one argument"));
    }
    let (trigger, _, _) = split_command(rest, escape);
    let trigger = trigger.to_ascii_uppercase();
    match trigger.as_str() {
        "ONBUILD" => {
            return Err(ParseError::plain(
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            ))
        }
        "MAINTAINER" | "FROM" => {
            return Err(ParseError::plain(format!(
                "{trigger} isn't allowed as an ONBUILD trigger"
            )))
        }
        _ => {}
    }
    // The trigger is kept as written after the keyword (and the whitespace after it).
    let trimmed = text.trim_start();
    let mut expression = trimmed
        .get(7..)
        .map(str::trim_start)
        .unwrap_or_default()
        .to_string();
    for doc in heredocs {
        expression.push('\n');
        expression.push_str(&doc.content);
        expression.push_str(&doc.name);
    }
    Ok(expression)
}

#[cfg(test)]
#[path = "instruction_tests.rs"]
mod tests;
