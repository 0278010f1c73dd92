//! The first pass over a Dockerfile, as buildkit's parser makes it: parser directives
//! (`# escape=`), comments, blank lines, line continuations with the escape character and
//! heredoc bodies, giving one logical line per instruction with the lines it spans.

use super::shell::{Lex, Vars};
use super::ParseError;

/// One instruction's text before it is split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    /// 1-based line where the instruction starts.
    pub start: usize,
    /// 1-based line where it ends (its last continuation or heredoc terminator).
    pub end: usize,
    /// The instruction with continuations joined, as buildkit keeps it (`Original`).
    pub text: String,
    /// Heredoc bodies that followed the line, in order.
    pub heredocs: Vec<Heredoc>,
}

/// A heredoc (`<<EOF` … `EOF`) attached to a RUN, COPY or ADD line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator word, quotes removed.
    pub name: String,
    /// The file descriptor before `<<` (`3<<EOF`); 0 when none.
    pub fd: u32,
    /// Whether variables in the body are substituted (the terminator was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are removed from the body and the terminator.
    pub chomp: bool,
    /// The body, each line with its newline.
    pub content: String,
}

/// The logical lines of `text`, the escape character in force and parser warnings.
pub struct Lines {
    pub lines: Vec<LogicalLine>,
    pub escape: char,
    pub warnings: Vec<String>,
}

/// Instructions whose lines may carry heredocs (also behind ONBUILD).
const HEREDOC_INSTRUCTIONS: [&str; 3] = ["run", "copy", "add"];

/// Splits a Dockerfile into logical lines. Errors name the line they were found on.
pub fn split(text: &str) -> Result<Lines, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let physical: Vec<&str> = text.split_inclusive('\n').collect();
    let mut st = Splitter {
        escape: '\\',
        directives_done: false,
        seen_directives: Vec::new(),
    };
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < physical.len() {
        let line_no = i + 1;
        let first = st.process_line(physical[i], true, line_no)?;
        i += 1;
        let (mut joined, mut done) = st.trim_continuation(&first);
        if done && joined.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !done && i < physical.len() {
            let raw = physical[i];
            let next = st.process_line(raw, false, i + 1)?;
            i += 1;
            if is_comment(raw) {
                continue;
            }
            if next.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (piece, end) = st.trim_continuation(&next);
            joined.push_str(&piece);
            done = end;
        }
        if empty_continuation {
            warnings.push(format!("Empty continuation line found in: {joined}"));
        }
        let mut logical = LogicalLine {
            start: line_no,
            end: i,
            text: joined,
            heredocs: Vec::new(),
        };
        if may_hold_heredoc(&logical.text) && logical.text.contains("<<") {
            for mut doc in heredocs_in(&logical.text).map_err(|e| e.at(line_no))? {
                let mut terminated = false;
                while i < physical.len() {
                    let raw = physical[i];
                    i += 1;
                    let mut candidate = raw.trim_end_matches(['\r', '\n']);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(raw);
                }
                if !terminated {
                    return Err(ParseError::new(line_no, "unterminated heredoc"));
                }
                logical.heredocs.push(doc);
            }
            logical.end = i;
        }
        out.push(logical);
    }
    if out.is_empty() {
        return Err(ParseError::new(
            physical.len().max(1),
            "file with no instructions",
        ));
    }
    Ok(Lines {
        lines: out,
        escape: st.escape,
        warnings,
    })
}

struct Splitter {
    escape: char,
    directives_done: bool,
    seen_directives: Vec<String>,
}

impl Splitter {
    /// Newline removed, leading whitespace too on an instruction's first line; a directive
    /// is applied; a comment becomes empty.
    fn process_line(
        &mut self,
        raw: &str,
        strip_left: bool,
        line_no: usize,
    ) -> Result<String, ParseError> {
        let mut line = raw.trim_end_matches(['\r', '\n']);
        if strip_left {
            line = line.trim_start();
        }
        self.directive(line)
            .map_err(|m| ParseError::new(line_no, &m))?;
        Ok(if is_comment(line) {
            String::new()
        } else {
            line.to_string()
        })
    }

    /// Parser directives are comments of the form `# key=value` before anything else;
    /// `escape` changes the escape character, `syntax` and `check` are accepted and ignored
    /// (the classic builder has one frontend).
    fn directive(&mut self, line: &str) -> Result<(), String> {
        if self.directives_done {
            return Ok(());
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.directives_done = true;
            return Ok(());
        };
        let rest = rest.trim_start();
        let parsed = rest.split_once('=').and_then(|(k, v)| {
            let k = k.trim_end();
            let valid = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && k.chars().all(|c| c.is_ascii_alphanumeric());
            let v = v.trim();
            (valid && !v.is_empty()).then(|| (k.to_ascii_lowercase(), v.to_string()))
        });
        let Some((key, value)) =
            parsed.filter(|(k, _)| ["syntax", "escape", "check"].contains(&k.as_str()))
        else {
            self.directives_done = true;
            return Ok(());
        };
        if self.seen_directives.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen_directives.push(key.clone());
        if key == "escape" {
            match value.as_str() {
                "\\" => self.escape = '\\',
                "`" => self.escape = '`',
                other => {
                    return Err(format!(
                        "invalid escape token '{other}' does not match ` or \\"
                    ))
                }
            }
        }
        Ok(())
    }

    /// buildkit's continuation rule: an escape character at the end of the line (after any
    /// spaces or tabs) that is not itself escaped continues the instruction on the next line.
    fn trim_continuation(&self, line: &str) -> (String, bool) {
        let body = line.trim_end_matches([' ', '\t']);
        if let Some(head) = body.strip_suffix(self.escape) {
            if head.is_empty() || !head.ends_with(self.escape) {
                return (head.to_string(), false);
            }
        }
        (line.to_string(), true)
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn may_hold_heredoc(text: &str) -> bool {
    let mut words = text.split_whitespace();
    let mut cmd = words.next().unwrap_or_default().to_ascii_lowercase();
    if cmd == "onbuild" {
        cmd = words.next().unwrap_or_default().to_ascii_lowercase();
    }
    // A JSON (exec) form never holds heredocs.
    let json = text
        .split_once(char::is_whitespace)
        .is_some_and(|(_, rest)| super::split::is_json_array(rest));
    HEREDOC_INSTRUCTIONS.contains(&cmd.as_str()) && !json
}

/// The heredocs a line names, in order (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`).
fn heredocs_in(line: &str) -> Result<Vec<Heredoc>, ParseError> {
    let lex = Lex {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        ..Lex::new('\\')
    };
    let words = lex
        .process_words(line, &Vars::default())
        .unwrap_or_default();
    let mut out = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            out.push(doc);
        }
    }
    Ok(out)
}

/// A word of the form `[fd]<<[-]NAME` as a heredoc; None for anything else.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, ParseError> {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let plain = Lex {
        skip_unset: true,
        ..Lex::new('\\')
    };
    let vars = Vars::default();
    let words = plain.process_words(rest, &vars)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = Lex {
        raw_quotes: true,
        ..plain
    };
    let raw_words = raw.process_words(rest, &vars)?;
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    let expand = raw_words.first().is_some_and(|r| quotes(r) == quotes(name));
    Ok(Some(Heredoc {
        name: name.clone(),
        fd: word[..digits].parse().unwrap_or(0),
        expand,
        chomp,
        content: String::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<(usize, usize, String)> {
        split(src)
            .unwrap()
            .lines
            .into_iter()
            .map(|l| (l.start, l.end, l.text))
            .collect()
    }

    #[test]
    fn continuations_comments_and_blank_lines() {
        let src = "FROM x\n\n# a comment\nRUN a \\\n  # inside\n  b \\\n\n  c\nCMD d\n";
        let got = texts(src);
        assert_eq!(
            got,
            vec![
                (1, 1, "FROM x".to_string()),
                (4, 8, "RUN a   b   c".to_string()),
                (9, 9, "CMD d".to_string()),
            ]
        );
        let lines = split(src).unwrap();
        assert_eq!(lines.warnings.len(), 1);
    }

    #[test]
    fn the_escape_directive_changes_the_continuation_character() {
        let src = "# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n";
        let lines = split(src).unwrap();
        assert_eq!(lines.escape, '`');
        assert_eq!(lines.lines[1].text, "RUN dir c:\\   && echo");
        // After the first instruction a directive is only a comment.
        let late = split("FROM x\n# escape=`\nRUN a \\\nb\n").unwrap();
        assert_eq!(late.escape, '\\');
        assert_eq!(late.lines[1].text, "RUN a b");
    }

    #[test]
    fn directive_errors_name_their_line() {
        let err = split("# escape=x\nFROM a\n").err().unwrap();
        assert_eq!(
            err.to_string(),
            "dockerfile parse error line 1: invalid escape token 'x' does not match ` or \\"
        );
        let err = split("# escape=`\n# escape=\\\nFROM a\n").err().unwrap();
        assert!(err
            .to_string()
            .contains("line 2: only one escape parser directive"));
    }

    #[test]
    fn an_escaped_escape_does_not_continue() {
        assert_eq!(texts("RUN a \\\\\nCMD b")[0].2, "RUN a \\\\");
        assert_eq!(texts("RUN a\\\nb")[0].2, "RUN ab");
    }

    #[test]
    fn heredocs_are_read_until_their_terminator() {
        let src = "FROM x\nRUN <<EOF\necho $A\n  EOF\nEOF\nCOPY <<-'A' <<B /d/\n\tone\n\tA\ntwo\nB\nCMD x\n";
        let lines = split(src).unwrap();
        let run = &lines.lines[1];
        assert_eq!((run.start, run.end), (2, 5));
        assert_eq!(run.heredocs[0].content, "echo $A\n  EOF\n");
        assert!(run.heredocs[0].expand);
        let copy = &lines.lines[2];
        assert_eq!((copy.start, copy.end), (6, 10));
        assert_eq!(copy.heredocs[0].name, "A");
        assert!(copy.heredocs[0].chomp && !copy.heredocs[0].expand);
        assert_eq!(copy.heredocs[0].content, "\tone\n");
        assert_eq!(copy.heredocs[1].content, "two\n");
        assert_eq!(lines.lines[3].text, "CMD x");
    }

    #[test]
    fn heredoc_errors_and_non_heredocs() {
        let err = split("FROM x\nRUN <<EOF\necho\n").err().unwrap();
        assert_eq!(
            err.to_string(),
            "dockerfile parse error line 2: unterminated heredoc"
        );
        // Exec form and other instructions never read a body.
        let lines = split("FROM x\nRUN [\"sh\", \"<<EOF\"]\nENV A=<<EOF\n").unwrap();
        assert!(lines.lines.iter().all(|l| l.heredocs.is_empty()));
        assert_eq!(parse_heredoc("3<<END").unwrap().unwrap().fd, 3);
        assert!(parse_heredoc("<<").unwrap().is_none());
        assert!(parse_heredoc("a<<b").unwrap().is_none());
    }

    #[test]
    fn empty_files_have_no_instructions() {
        let err = split("# only\n\n").err().unwrap();
        assert!(err.to_string().contains("file with no instructions"));
    }

    #[test]
    fn crlf_and_byte_order_marks_are_tolerated() {
        assert_eq!(
            texts("\u{feff}FROM x\r\nRUN a \\\r\n b\r\n"),
            vec![(1, 1, "FROM x".into()), (2, 3, "RUN a  b".into())]
        );
    }
}
