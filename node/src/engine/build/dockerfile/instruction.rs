//! Typed instructions from logical lines, with buildkit's argument rules and error wording.
//! Variables are not substituted here: that needs the build's environment, so the strings
//! keep their quotes and `$`s and the dispatcher expands the ones Docker expands.

use super::flags::{FlagKind, Flags};
use super::forms::{
    command_line, exactly_one, json_or_words, parse_arg, parse_copy, parse_from, parse_healthcheck,
    parse_onbuild,
};
use super::lines::{Heredoc, LogicalLine};
use super::split::{parse_json, parse_name_values, split_command, whitespace_words};
use super::ParseError;

pub use super::forms::chomp;

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

#[cfg(test)]
#[path = "instruction_tests.rs"]
mod tests;
