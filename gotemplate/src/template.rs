//! A subset of Go's `text/template` evaluated over `serde_json::Value` (what `--format` takes):
//! text around `{{…}}` actions, dotted paths, `(pipe).Field`, pipes, `range`/`if`/`with`/`else`/`end`,
//! trim markers, and the functions docker's CLI adds (`json`, `join`, `split`, `lower`, `upper`,
//! `title`, `truncate`, `pad`) plus Go's `index`, `len`, `print`, `println`, `eq`, `ne`, `not`,
//! `and`, `or`. This file parses; `eval.rs` evaluates. It never touches I/O.

use anyhow::{anyhow, bail, Result};
use serde_json::{Number, Value};

use crate::eval;

/// A parsed template; `render` may be called for many values.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    Block {
        kind: Block,
        /// Variables `range` declares (`$v` or `$k, $v`).
        vars: Vec<String>,
        pipe: Pipe,
        body: Vec<Node>,
        other: Vec<Node>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Block {
    If,
    Range,
    With,
}

pub(crate) type Pipe = Vec<Vec<Operand>>;

#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Path { root: bool, fields: Vec<String> },
    Var(String, Vec<String>),
    Lit(Value),
    Func(String),
    Sub(Pipe, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Path { root: bool, fields: Vec<String> },
    Var(String, Vec<String>),
    Declare,
    Comma,
    Chain(Vec<String>),
    Lit(Value),
    Ident(String),
    Open,
    Close,
    Bar,
}

enum Seg {
    Text(String),
    Action(String),
}

impl Template {
    /// Parses `src`; errors name what is malformed, as Go's "template parsing error" does.
    pub fn parse(src: &str) -> Result<Self> {
        let segs = split(src)?;
        let mut idx = 0;
        let (nodes, end) = build(&segs, &mut idx)?;
        if let Some(word) = end {
            bail!("template: unexpected {{{{{word}}}}}");
        }
        Ok(Self { nodes })
    }

    /// Renders the template with `data` as dot (and `$`).
    pub fn render(&self, data: &Value) -> Result<String> {
        self.render_with(data, false)
    }

    /// Renders over `data` as Go renders over a struct: a field it lacks is an error (`{{.Foo}}`
    /// on docker's log info fails), and names match exactly.
    pub fn render_strict(&self, data: &Value) -> Result<String> {
        self.render_with(data, true)
    }

    fn render_with(&self, data: &Value, strict: bool) -> Result<String> {
        let mut out = String::new();
        let env = eval::Env {
            root: data,
            vars: Vec::new(),
            strict,
        };
        eval::exec(&self.nodes, Some(data), &env, &mut out)?;
        Ok(out)
    }
}

fn split(src: &str) -> Result<Vec<Seg>> {
    let mut segs = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let mut inner = &rest[start + 2..];
        if inner.starts_with("- ") || inner.starts_with("-\t") || inner.starts_with("-\n") {
            text = text.trim_end();
            inner = &inner[1..];
        }
        let end = find_close(inner).ok_or_else(|| anyhow!("template: unclosed action"))?;
        let mut action = &inner[..end];
        trim_next = action.ends_with(" -") || action.ends_with("\t-") || action.ends_with("\n-");
        if trim_next {
            action = &action[..action.len() - 1];
        }
        if !text.is_empty() {
            segs.push(Seg::Text(text.to_string()));
        }
        let action = action.trim();
        if !(action.starts_with("/*") && action.ends_with("*/")) {
            segs.push(Seg::Action(action.to_string()));
        }
        rest = &inner[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        segs.push(Seg::Text(text.to_string()));
    }
    Ok(segs)
}

/// Index of the `}}` closing an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (Some(b'"'), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, c @ (b'"' | b'`')) => quote = Some(c),
            (None, b'}') if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn build(segs: &[Seg], idx: &mut usize) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while *idx < segs.len() {
        let seg = &segs[*idx];
        *idx += 1;
        let action = match seg {
            Seg::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                continue;
            }
            Seg::Action(a) => a,
        };
        let mut tokens = lex(action)?;
        let word = match tokens.first() {
            Some(Token::Ident(w)) => w.clone(),
            _ => String::new(),
        };
        let kind = match word.as_str() {
            "end" | "else" => return Ok((nodes, Some(word))),
            "if" => Block::If,
            "range" => Block::Range,
            "with" => Block::With,
            _ => {
                nodes.push(Node::Action(parse_pipe(&tokens, &mut 0)?));
                continue;
            }
        };
        tokens.remove(0);
        let vars = declared(&mut tokens, kind)?;
        let pipe = parse_pipe(&tokens, &mut 0)?;
        let (body, end) = build(segs, idx)?;
        let other = match end.as_deref() {
            Some("end") => Vec::new(),
            Some("else") => match build(segs, idx)? {
                (other, Some(e)) if e == "end" => other,
                _ => bail!("template: missing {{{{end}}}} after {{{{else}}}}"),
            },
            _ => bail!("template: unexpected EOF, missing {{{{end}}}}"),
        };
        nodes.push(Node::Block {
            kind,
            vars,
            pipe,
            body,
            other,
        });
    }
    Ok((nodes, None))
}

/// Takes `$v :=` or `$k, $v :=` off the front of a `range`'s tokens.
fn declared(tokens: &mut Vec<Token>, kind: Block) -> Result<Vec<String>> {
    let Some(at) = tokens.iter().position(|t| *t == Token::Declare) else {
        return Ok(Vec::new());
    };
    if kind != Block::Range {
        bail!("template: variable declarations are supported in range only");
    }
    let names: Vec<String> = tokens[..at]
        .iter()
        .filter(|t| **t != Token::Comma)
        .map(|t| match t {
            Token::Var(name, fields) if fields.is_empty() => Ok(name.clone()),
            _ => Err(anyhow!("template: range can only initialize variables")),
        })
        .collect::<Result<_>>()?;
    if names.is_empty() || names.len() > 2 {
        bail!("template: too many declarations in range");
    }
    tokens.drain(..=at);
    Ok(names)
}

fn lex(s: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = s.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let word_end = |mut j: usize| {
        while j < chars.len() && (chars[j].is_alphanumeric() || matches!(chars[j], '_' | '.')) {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => (tokens.push(Token::Open), i += 1).1,
            '|' => (tokens.push(Token::Bar), i += 1).1,
            ')' => {
                tokens.push(Token::Close);
                i += 1;
                if chars.get(i) == Some(&'.') {
                    let j = word_end(i);
                    tokens.push(Token::Chain(fields(&chars[i..j])));
                    i = j;
                }
            }
            '$' if chars
                .get(i + 1)
                .is_some_and(|n| n.is_alphanumeric() || *n == '_') =>
            {
                let j = word_end(i + 1);
                let mut parts = fields(&chars[i + 1..j]).into_iter();
                let name = parts.next().unwrap_or_default();
                tokens.push(Token::Var(name, parts.collect()));
                i = j;
            }
            ':' if chars.get(i + 1) == Some(&'=') => (tokens.push(Token::Declare), i += 2).1,
            ',' => (tokens.push(Token::Comma), i += 1).1,
            '.' | '$' => {
                let start = if c == '$' { i + 1 } else { i };
                let j = word_end(start);
                tokens.push(Token::Path {
                    root: c == '$',
                    fields: fields(&chars[start..j]),
                });
                i = j;
            }
            '"' | '`' => {
                let (text, next) = lex_string(&chars, i)?;
                tokens.push(Token::Lit(Value::String(text)));
                i = next;
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let j = word_end(i + 1);
                let text: String = chars[i..j].iter().collect();
                let num = text
                    .parse::<i64>()
                    .map(Number::from)
                    .ok()
                    .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64))
                    .ok_or_else(|| anyhow!("template: bad number syntax: {text:?}"))?;
                tokens.push(Token::Lit(Value::Number(num)));
                i = j;
            }
            c if c.is_alphabetic() || c == '_' => {
                let j = word_end(i);
                let word: String = chars[i..j].iter().collect();
                tokens.push(match word.as_str() {
                    "true" => Token::Lit(Value::Bool(true)),
                    "false" => Token::Lit(Value::Bool(false)),
                    "nil" => Token::Lit(Value::Null),
                    _ => Token::Ident(word),
                });
                i = j;
            }
            other => bail!("template: unexpected {other:?} in command"),
        }
    }
    Ok(tokens)
}

fn fields(chars: &[char]) -> Vec<String> {
    let s: String = chars.iter().collect();
    s.split('.')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

fn lex_string(chars: &[char], start: usize) -> Result<(String, usize)> {
    let quote = chars[start];
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            c if c == quote => return Ok((out, i + 1)),
            '\\' if quote == '"' && i + 1 < chars.len() => {
                i += 1;
                out.push(match chars[i] {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    c => c,
                });
            }
            c => out.push(c),
        }
        i += 1;
    }
    bail!("template: unterminated quoted string")
}

fn parse_pipe(tokens: &[Token], pos: &mut usize) -> Result<Pipe> {
    let mut pipe = vec![Vec::new()];
    while *pos < tokens.len() {
        let tok = &tokens[*pos];
        *pos += 1;
        let operand = match tok {
            Token::Close => {
                *pos -= 1;
                break;
            }
            Token::Bar => {
                pipe.push(Vec::new());
                continue;
            }
            Token::Path { root, fields } => Operand::Path {
                root: *root,
                fields: fields.clone(),
            },
            Token::Var(name, fields) => Operand::Var(name.clone(), fields.clone()),
            Token::Declare | Token::Comma => {
                bail!("template: variable declarations are supported in range only")
            }
            Token::Lit(v) => Operand::Lit(v.clone()),
            Token::Ident(name) => Operand::Func(name.clone()),
            Token::Chain(_) => bail!("template: unexpected field chain"),
            Token::Open => {
                let inner = parse_pipe(tokens, pos)?;
                if tokens.get(*pos) != Some(&Token::Close) {
                    bail!("template: unclosed left paren");
                }
                *pos += 1;
                let chain = match tokens.get(*pos) {
                    Some(Token::Chain(f)) => (*pos += 1, f.clone()).1,
                    _ => Vec::new(),
                };
                Operand::Sub(inner, chain)
            }
        };
        if let Some(cmd) = pipe.last_mut() {
            cmd.push(operand);
        }
    }
    if pipe.iter().any(Vec::is_empty) {
        bail!("template: missing value for command");
    }
    Ok(pipe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(tpl: &str, data: &Value) -> String {
        Template::parse(tpl).unwrap().render(data).unwrap()
    }

    #[test]
    fn an_empty_mode_struct_is_set_and_an_empty_map_is_not() {
        let data = json!({ "Spec": { "Mode": { "Global": {} }, "Labels": {} } });
        assert_eq!(
            render("{{if .Spec.Mode.Global}}global{{end}}", &data),
            "global"
        );
        assert_eq!(render("{{if .Spec.Mode.Replicated}}r{{end}}", &data), "");
        assert_eq!(render("{{if .Spec.Labels}}labels{{end}}", &data), "");
    }

    #[test]
    fn nested_fields_and_text_around_actions() {
        let data = json!({"State": {"Status": "running", "Running": true}, "HostConfig": {"Memory": 33554432}});
        assert_eq!(render("{{.State.Status}}", &data), "running");
        assert_eq!(render("{{.State.Running}}", &data), "true");
        assert_eq!(
            render("mem={{.HostConfig.Memory}}!", &data),
            "mem=33554432!"
        );
        assert_eq!(
            render(
                "{{.HostConfig.Memory}}",
                &json!({"HostConfig": {"Memory": 3.3554432e7}})
            ),
            "33554432"
        );
    }

    #[test]
    fn missing_and_null_print_no_value() {
        let data = json!({"A": null, "B": {"C": 1}});
        assert_eq!(render("{{.Nope}}", &data), "<no value>");
        assert_eq!(render("{{.A}}", &data), "<no value>");
        assert_eq!(render("{{.B.C.D}}", &data), "<no value>");
        assert_eq!(render("{{.Nope.Deeper}}", &data), "<no value>");
    }

    #[test]
    fn json_function_and_go_printing_of_collections() {
        let data =
            json!({"Config": {"Env": ["A=1", "B=2"], "Labels": {"b": "2", "a": "1"}, "X": [null]}});
        assert_eq!(render("{{json .Config.Env}}", &data), r#"["A=1","B=2"]"#);
        assert_eq!(render("{{.Config.Env}}", &data), "[A=1 B=2]");
        assert_eq!(render("{{.Config.Labels}}", &data), "map[a:1 b:2]");
        let ports = serde_json::json!({"ExposedPorts": {"8080/tcp": {}}, "Empty": {}});
        assert_eq!(
            render("{{.ExposedPorts}} {{.Empty}}", &ports),
            "map[8080/tcp:{}] map[]"
        );
        assert_eq!(render("{{.Config.X}}", &data), "[<nil>]");
        assert_eq!(render("{{json .Missing}}", &data), "null");
        assert_eq!(render("{{.Config.Env | json}}", &data), r#"["A=1","B=2"]"#);
    }

    #[test]
    fn keys_fall_back_to_case_insensitive_match() {
        let data = json!({"Id": "abc", "Server": {"ApiVersion": "1.44"}});
        assert_eq!(render("{{.ID}}", &data), "abc");
        assert_eq!(render("{{.Server.APIVersion}}", &data), "1.44");
    }

    #[test]
    fn range_declares_key_and_value_variables() {
        let data = json!({ "Networks": { "front": { "IPAddress": "10.0.0.3" }, "back": { "IPAddress": "10.0.1.3" } },
                           "List": ["a", "b"] });
        assert_eq!(
            render(
                "{{range $k, $v := .Networks}}{{$k}}={{$v.IPAddress}} {{end}}",
                &data
            ),
            "back=10.0.1.3 front=10.0.0.3 "
        );
        assert_eq!(
            render("{{range $i, $e := .List}}{{$i}}:{{$e}},{{end}}", &data),
            "0:a,1:b,"
        );
        assert_eq!(render("{{range $e := .List}}{{$e}}{{end}}", &data), "ab");
        assert!(Template::parse("{{$x := .List}}").is_err());
        assert!(Template::parse("{{range $a, $b, $c := .List}}{{end}}").is_err());
        assert!(Template::parse("{{range .List}}{{$nope}}{{end}}")
            .unwrap()
            .render(&data)
            .is_err());
    }

    #[test]
    fn range_index_if_and_functions() {
        let data = json!({"Mounts": [{"Name": "v1"}, {"Name": "v2"}],
            "NetworkSettings": {"Networks": {"bct-n1": {"IPAddress": "10.0.0.2"}}}, "Ok": false});
        assert_eq!(
            render("{{range .Mounts}}{{.Name}},{{end}}", &data),
            "v1,v2,"
        );
        assert_eq!(
            render(
                r#"{{(index .NetworkSettings.Networks "bct-n1").IPAddress}}"#,
                &data
            ),
            "10.0.0.2"
        );
        assert_eq!(render("{{if .Ok}}yes{{else}}no{{end}}", &data), "no");
        assert_eq!(
            render("{{range .Nope}}x{{else}}empty{{end}}", &data),
            "empty"
        );
        assert_eq!(
            render(
                r#"{{join (split "a,b" ",") "-"}} {{upper "x"}} {{len .Mounts}}"#,
                &data
            ),
            "a-b X 2"
        );
        assert_eq!(render("{{- \" a \" -}}  {{ \"b\" }}", &data), " a b");
        assert_eq!(render("{{$.Ok}}", &data), "false");
    }

    #[test]
    fn malformed_templates_are_errors() {
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{range .A}}x").is_err());
        assert!(Template::parse("{{end}}").is_err());
        assert!(Template::parse("{{nosuch .A}}")
            .unwrap()
            .render(&json!({}))
            .is_err());
    }

    #[test]
    fn strict_rendering_treats_objects_as_structs() {
        let data = json!({ "Name": "web", "Labels": { "a": "1" } });
        let t = |src: &str| Template::parse(src).unwrap().render_strict(&data);
        assert_eq!(t("{{.Name}}-{{upper .Name}}").unwrap(), "web-WEB");
        assert_eq!(t("{{.Labels.a}}").unwrap(), "1");
        let e = t("{{.Foo}}").unwrap_err().to_string();
        assert!(e.contains("can't evaluate field Foo"), "{e}");
        // Go's struct fields match exactly; the lenient render finds `name` as `Name`.
        assert!(t("{{.name}}").is_err());
        assert_eq!(render("{{.name}} {{.Foo}}", &data), "web <no value>");
        assert!(t("{{.Name.Length}}").is_err());
    }
}
