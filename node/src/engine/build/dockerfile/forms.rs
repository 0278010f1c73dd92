//! The argument forms of the instructions with more than a string: FROM, ARG, COPY/ADD
//! (sources, heredoc contents, flags), HEALTHCHECK (flags and durations), ONBUILD, and the
//! JSON-or-shell command forms. Pure; errors carry no line (the caller adds it).

use super::flags::{FlagKind, Flags};
use super::instruction::{
    ArgDecl, CommandLine, CopyArgs, Healthcheck, InlineSource, Instruction, Stage,
};
use super::lines::{parse_heredoc, Heredoc};
use super::split::{parse_json, parse_words, split_command, whitespace_words};
use super::ParseError;

pub fn exactly_one(keyword: &str, rest: &str) -> Result<String, ParseError> {
    // MAINTAINER, USER, WORKDIR and STOPSIGNAL take the rest of the line as one argument.
    if rest.is_empty() {
        return Err(ParseError::plain(format!(
            "{keyword} requires exactly one argument"
        )));
    }
    Ok(rest.to_string())
}

pub fn json_or_words(rest: &str) -> Result<Vec<String>, ParseError> {
    Ok(match parse_json(rest)? {
        Some(v) => v,
        None => whitespace_words(rest),
    })
}

pub fn command_line(rest: &str, heredocs: &[Heredoc]) -> Result<CommandLine, ParseError> {
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

pub fn parse_from(
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

pub fn parse_arg(rest: &str, escape: char) -> Result<Vec<ArgDecl>, ParseError> {
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

pub fn parse_copy(
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

pub fn parse_healthcheck(flag_words: &[String], rest: &str) -> Result<Healthcheck, ParseError> {
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
        let d = berth_gotime::parse_duration(&v).map_err(ParseError::plain)?;
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

pub fn parse_onbuild(
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
