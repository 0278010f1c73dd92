//! Docker's `.dockerignore` rules, shared by the `berth` CLI (which leaves ignored files out of
//! the build context it sends, as the docker CLI does) and berthd (which, as dockerd, drops the
//! Dockerfile and `.dockerignore` themselves from the context when the file names them).
//! Pure: paths in, answers out; no file system access.
//!
//! The rules are moby's `patternmatcher` and `ignorefile`: a pattern is cleaned like a Go path,
//! `!` makes it an exception, `*` and `?` never cross a `/`, `**` crosses any number of
//! directories, and a path is also excluded when one of its parent directories is.

use regex_lite::Regex;

/// A pattern that cannot be compiled (an unclosed `[`, a trailing `\`, a bad range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Go's filepath.ErrBadPattern, which dockerd and the docker CLI print.
        write!(f, "syntax error in pattern: {}", self.pattern)
    }
}

impl std::error::Error for PatternError {}

/// The patterns of a `.dockerignore` file, as moby's `ignorefile.ReadAll` reads them: a UTF-8
/// byte order mark is dropped, lines starting with `#` are comments, blank lines are skipped,
/// each pattern is trimmed and cleaned, a leading `/` is dropped (the context is the root) and
/// `!` is kept in front of exceptions.
pub fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        // Only a `#` in the first column is a comment (Docker checks before trimming).
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    out
}

/// Go's `path.Clean`: the shortest path naming the same file, purely lexically (`a//b/./c/..`
/// is `a/b`; `..` at the root stays at the root; an empty path is `.`).
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// How one compiled pattern matches, as patternmatcher classifies it.
#[derive(Debug, Clone)]
enum Kind {
    /// No wildcard: the whole path.
    Exact,
    /// `dir/**`: anything starting with `dir/`.
    Prefix(String),
    /// `**/name`: anything ending with `/name`, or `name` itself.
    Suffix(String),
    /// Anything else, as an anchored regular expression.
    Pattern(Regex),
}

#[derive(Debug, Clone)]
struct Pattern {
    cleaned: String,
    /// Number of `/`-separated parts, for matching a parent directory of the same depth.
    depth: usize,
    exclusion: bool,
    kind: Kind,
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Pattern(re) => re.is_match(path),
        }
    }
}

/// A compiled list of patterns; later patterns win over earlier ones.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl Matcher {
    /// Compiles `patterns` (as [`read_patterns`] gives them, or as a client sends them).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        let mut out = Matcher::default();
        for raw in patterns {
            let trimmed = raw.as_ref().trim();
            if trimmed.is_empty() {
                continue;
            }
            let mut p = clean(trimmed);
            let exclusion = p.starts_with('!');
            if exclusion {
                if p.len() == 1 {
                    return Err(PatternError {
                        pattern: raw.as_ref().to_string(),
                    });
                }
                p.remove(0);
                out.exclusions = true;
            }
            let kind = compile(&p).ok_or_else(|| PatternError {
                pattern: raw.as_ref().to_string(),
            })?;
            out.patterns.push(Pattern {
                depth: p.split('/').count(),
                cleaned: p,
                exclusion,
                kind,
            });
        }
        Ok(out)
    }

    /// Whether any pattern is an exception (`!`), so an excluded directory may still hold
    /// files that are sent.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// patternmatcher's `Matches`: `file` (relative, `/`-separated) is excluded by the last
    /// pattern that matches it or its parent directory at the pattern's own depth.
    pub fn matches(&self, file: &str) -> bool {
        let file = clean(file);
        if file == "." {
            return false;
        }
        let parents: Vec<&str> = parent_dirs(&file);
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.matches(&file);
            if !hit && !parents.is_empty() && p.depth <= parents.len() {
                hit = p.matches(&parents[..p.depth].join("/"));
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// patternmatcher's `MatchesOrParentMatches`: as [`Matcher::matches`], but a pattern
    /// matching any parent directory of `file` excludes it.
    pub fn matches_or_parent_matches(&self, file: &str) -> bool {
        let file = clean(file);
        if file == "." {
            return false;
        }
        let parents: Vec<&str> = parent_dirs(&file);
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let hit =
                p.matches(&file) || (1..=parents.len()).any(|i| p.matches(&parents[..i].join("/")));
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

/// The components of `file`'s parent directory (none for a top-level name).
fn parent_dirs(file: &str) -> Vec<&str> {
    match file.rsplit_once('/') {
        Some((parent, _)) => parent.split('/').collect(),
        None => Vec::new(),
    }
}

/// Characters a regular expression would read as operators; patternmatcher escapes the same.
const ESCAPED: &str = ".+()|{}$^";

/// Classifies and compiles one cleaned pattern as patternmatcher does; None when malformed.
fn compile(pattern: &str) -> Option<Kind> {
    let mut re = String::from("^");
    let mut kind = 0u8; // 0 exact, 1 prefix, 2 suffix, 3 pattern
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let ch = chars[i];
        let first = i == 0;
        i += 1;
        if in_class {
            match ch {
                ']' => {
                    in_class = false;
                    re.push(']');
                }
                '\\' => {
                    let next = *chars.get(i)?;
                    i += 1;
                    re.push_str(&regex_lite::escape(&next.to_string()));
                }
                '[' | '&' | '~' => re.push_str(&format!("\\{ch}")),
                other => re.push(other),
            }
            continue;
        }
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if kind == 0 {
                        kind = 1;
                    } else {
                        re.push_str(".*");
                        kind = 3;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = 3;
                }
                if first {
                    kind = 2;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = 3;
            }
            '?' => {
                re.push_str("[^/]");
                kind = 3;
            }
            '\\' => {
                // Go's filepath.Match refuses a trailing backslash.
                let next = *chars.get(i)?;
                i += 1;
                re.push_str(&regex_lite::escape(&next.to_string()));
                kind = 3;
            }
            '[' => {
                in_class = true;
                re.push('[');
                if chars.get(i) == Some(&'^') {
                    re.push('^');
                    i += 1;
                }
                kind = 3;
            }
            ']' => {
                re.push_str("\\]");
                kind = 3;
            }
            c if ESCAPED.contains(c) => {
                re.push('\\');
                re.push(c);
            }
            c => re.push(c),
        }
    }
    if in_class {
        return None;
    }
    Some(match kind {
        0 => Kind::Exact,
        1 => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        2 => Kind::Suffix(pattern.get(2..).unwrap_or_default().to_string()),
        _ => {
            re.push('$');
            Kind::Pattern(Regex::new(&re).ok()?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &[&str], file: &str) -> bool {
        Matcher::new(patterns).unwrap().matches(file)
    }

    #[test]
    fn clean_is_gos_path_clean() {
        for (input, want) in [
            ("", "."),
            ("a/b/", "a/b"),
            ("a//b/./c/..", "a/b"),
            ("/../a", "/a"),
            ("../a/..", ".."),
            ("./x", "x"),
            ("/", "/"),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn the_file_is_read_as_ignorefile_reads_it() {
        let text = "\u{feff}# comment\n  node_modules/ \n\n!  keep.txt\n/abs/path\n #not a comment\n*.log\n";
        assert_eq!(
            read_patterns(text),
            [
                "node_modules",
                "!keep.txt",
                "abs/path",
                "#not a comment",
                "*.log"
            ]
        );
    }

    #[test]
    fn single_stars_stay_in_one_directory_and_double_stars_cross_them() {
        assert!(excluded(&["*.txt"], "a.txt"));
        assert!(!excluded(&["*.txt"], "dir/a.txt"));
        assert!(excluded(&["*/*.txt"], "dir/a.txt"));
        assert!(excluded(&["**/*.txt"], "a/b/c.txt"));
        assert!(excluded(&["**/*.txt"], "c.txt"));
        assert!(excluded(&["a/**/z"], "a/z"));
        assert!(excluded(&["a/**/z"], "a/b/c/z"));
        assert!(!excluded(&["a/**/z"], "b/z"));
        assert!(excluded(&["fo?"], "foo"));
        assert!(!excluded(&["fo?"], "fo/"));
        assert!(excluded(&["[a-c]x"], "bx"));
        assert!(!excluded(&["[^a-c]x"], "bx"));
        assert!(excluded(&["**"], "anything/at/all"));
    }

    #[test]
    fn prefix_and_suffix_forms() {
        assert!(excluded(&["build/**"], "build/x/y"));
        assert!(excluded(&["**/secret"], "a/b/secret"));
        assert!(excluded(&["**/secret"], "secret"));
        assert!(!excluded(&["**/secret"], "a/notsecret"));
    }

    #[test]
    fn a_directory_excludes_what_it_holds_and_exceptions_come_back() {
        assert!(excluded(&["dir"], "dir/file"));
        assert!(excluded(&["dir"], "dir/sub/file"));
        let m = Matcher::new(&["*.md", "!README.md"]).unwrap();
        assert!(m.has_exclusions());
        assert!(m.matches("CHANGES.md"));
        assert!(!m.matches("README.md"));
        // The last matching pattern wins.
        assert!(excluded(&["!a", "a"], "a"));
        assert!(!excluded(&["a", "!a"], "a"));
    }

    #[test]
    fn parent_matches_reach_any_depth_only_in_the_or_parent_form() {
        let m = Matcher::new(&["a/b"]).unwrap();
        assert!(m.matches("a/b/c/d"));
        let m = Matcher::new(&["a"]).unwrap();
        assert!(m.matches_or_parent_matches("a/b/c"));
        let m = Matcher::new(&["b"]).unwrap();
        assert!(!m.matches_or_parent_matches("a/b/c"));
        let m = Matcher::new(&["*/b"]).unwrap();
        assert!(m.matches_or_parent_matches("a/b/c/d"));
        assert!(!m.matches_or_parent_matches("."));
    }

    #[test]
    fn regex_operators_are_literal() {
        assert!(excluded(&["a.b"], "a.b"));
        assert!(!excluded(&["a.*"], "abc"));
        assert!(excluded(&["a.*"], "a.c"));
        assert!(excluded(&["(x)+{y}$"], "(x)+{y}$"));
        assert!(excluded(&["\\*"], "*"));
        assert!(excluded(&["a]"], "a]"));
        assert!(!excluded(&["\\*"], "x"));
    }

    #[test]
    fn classes_take_ranges_negations_escapes_and_set_operator_characters() {
        assert!(excluded(&["[a-c]x"], "bx"));
        assert!(!excluded(&["[a-c]x"], "dx"));
        assert!(!excluded(&["[^a]"], "a"));
        assert!(excluded(&["[^a]"], "é"));
        assert!(excluded(&["[\\]]"], "]"));
        assert!(excluded(&["[&~]x"], "&x"));
        assert!(excluded(&["[&~]x"], "~x"));
        assert!(excluded(&["[[]"], "["));
        assert!(!excluded(&["a?b"], "a/b"));
        assert!(excluded(&["é*"], "éa"));
        // An escaped character is itself, wherever it stands.
        assert!(excluded(&["[\\-a]"], "-"));
        assert!(excluded(&["a\\-b\\&\\~\\#\\q"], "a-b&~#q"));
    }

    #[test]
    fn malformed_patterns_are_errors() {
        for bad in ["[abc", "abc\\", "!"] {
            let err = Matcher::new(&[bad]).unwrap_err();
            assert_eq!(err.pattern, bad);
            assert!(err.to_string().contains("syntax error in pattern"));
        }
    }
}
