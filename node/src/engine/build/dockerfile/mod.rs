//! The Dockerfile language, parsed as buildkit's `frontend/dockerfile/parser` and
//! `instructions` parse it (the classic builder uses them too): parser directives, line
//! continuations, heredocs, flags, JSON and shell forms, stages. A pure module: text in,
//! typed [`Dockerfile`] out, errors naming the line. Variable substitution ([`shell::Lex`]) is
//! applied later by the builder, which knows the environment.
//!
//! No maintained Rust crate fits: `dockerfile-parser` (pest) has no heredocs nor escape
//! directive, `dockerfile-parser-rs` trims heredoc bodies, knows no escape directive and gives
//! no line numbers.

pub mod flags;
pub mod forms;
pub mod instruction;
pub mod lines;
pub mod shell;
mod shell_words;
pub mod split;

pub use instruction::{
    ArgDecl, Command, CommandLine, CopyArgs, Healthcheck, InlineSource, Instruction, KeyValue,
    Stage,
};
pub use lines::Heredoc;

/// A Dockerfile that could not be parsed; Docker's wording, with the line when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the instruction at fault.
    pub line: Option<usize>,
    pub message: String,
}

impl ParseError {
    /// An error on `line`.
    pub fn new(line: usize, message: &str) -> Self {
        ParseError {
            line: Some(line),
            message: message.to_string(),
        }
    }

    /// An error whose line the caller adds (see [`ParseError::at`]).
    pub fn plain(message: impl Into<String>) -> Self {
        ParseError {
            line: None,
            message: message.into(),
        }
    }

    /// This error, placed on `line` unless it already has one.
    pub fn at(mut self, line: usize) -> Self {
        self.line.get_or_insert(line);
        self
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            // Docker 20.10's wording.
            Some(n) => write!(f, "dockerfile parse error line {n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\`, or `` ` `` by directive).
    pub escape: char,
    /// ARGs before the first FROM (they parameterise FROM lines).
    pub meta_args: Vec<Command>,
    pub stages: Vec<Stage>,
    /// Parser warnings (empty continuation lines), printed before the build.
    pub warnings: Vec<String>,
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines = lines::split(text)?;
    let mut out = Dockerfile {
        escape: lines.escape,
        meta_args: Vec::new(),
        stages: Vec::new(),
        warnings: lines.warnings,
    };
    for line in &lines.lines {
        match instruction::parse_line(line, lines.escape)? {
            instruction::Parsed::From(stage) => out.stages.push(stage),
            instruction::Parsed::Command(cmd) => match out.stages.last_mut() {
                Some(stage) => stage.commands.push(cmd),
                None if matches!(cmd.instruction, Instruction::Arg(_)) => out.meta_args.push(cmd),
                None => {
                    return Err(ParseError::new(
                        line.start,
                        "no build stage in current context",
                    ))
                }
            },
        }
    }
    Ok(out)
}

/// Parses one trigger of an ONBUILD (or one `docker commit --change`) as a command.
pub fn parse_command(text: &str, escape: char) -> Result<Command, ParseError> {
    let lines = lines::split(text)?;
    let [line] = lines.lines.as_slice() else {
        return Err(ParseError::plain(
            "onbuild trigger should be a single expression",
        ));
    };
    match instruction::parse_line(line, escape)? {
        instruction::Parsed::Command(cmd) => Ok(cmd),
        instruction::Parsed::From(_) => Err(ParseError::plain(
            "FROM isn't allowed as an ONBUILD trigger",
        )),
    }
}

#[cfg(test)]
#[path = "corpus_tests.rs"]
mod corpus_tests;
