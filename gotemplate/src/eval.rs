//! Evaluation of parsed templates (see `template.rs`) over JSON values: actions, blocks, pipes,
//! functions, and Go's `%v` printing of values. Pure: no I/O.

use anyhow::{bail, Result};
use serde_json::{Number, Value};

use crate::template::{Block, Node, Operand, Pipe};

/// What a template sees besides dot: the data it was given (`$`) and the variables in scope.
pub(crate) struct Env<'a> {
    pub root: &'a Value,
    pub vars: Vec<(String, Value)>,
    /// Objects are Go structs: a missing field is an error, and names match exactly.
    pub strict: bool,
}

pub(crate) fn exec(
    nodes: &[Node],
    dot: Option<&Value>,
    root: &Env<'_>,
    out: &mut String,
) -> Result<()> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(pipe) => out.push_str(&print_top(eval_pipe(pipe, dot, root)?.as_ref())),
            Node::Block {
                kind,
                vars,
                pipe,
                body,
                other,
            } => {
                let value = eval_pipe(pipe, dot, root)?;
                match kind {
                    Block::If if truthy(value.as_ref()) || set_struct(pipe, value.as_ref()) => {
                        exec(body, dot, root, out)?;
                    }
                    Block::With if truthy(value.as_ref()) || set_struct(pipe, value.as_ref()) => {
                        exec(body, value.as_ref(), root, out)?;
                    }
                    Block::Range if truthy(value.as_ref()) => {
                        let items: Vec<(Value, &Value)> = match &value {
                            Some(Value::Array(a)) => a
                                .iter()
                                .enumerate()
                                .map(|(i, v)| (Value::from(i), v))
                                .collect(),
                            Some(Value::Object(m)) => {
                                m.iter().map(|(k, v)| (Value::from(k.clone()), v)).collect()
                            }
                            _ => bail!(
                                "template: range can't iterate over {}",
                                print_top(value.as_ref())
                            ),
                        };
                        for (key, item) in items {
                            // `range $v := …` binds the element; `range $k, $v := …` the key
                            // (or index) and the element, as Go's templates do.
                            let mut scope = Env {
                                root: root.root,
                                vars: root.vars.clone(),
                                strict: root.strict,
                            };
                            match vars.as_slice() {
                                [v] => scope.vars.push((v.clone(), item.clone())),
                                [k, v] => {
                                    scope.vars.push((k.clone(), key));
                                    scope.vars.push((v.clone(), item.clone()));
                                }
                                _ => {}
                            }
                            exec(body, Some(item), &scope, out)?;
                        }
                    }
                    _ => exec(other, dot, root, out)?,
                }
            }
        }
    }
    Ok(())
}

fn eval_pipe(pipe: &Pipe, dot: Option<&Value>, root: &Env<'_>) -> Result<Option<Value>> {
    let mut prev: Option<Option<Value>> = None;
    for cmd in pipe {
        prev = Some(eval_cmd(cmd, dot, root, prev)?);
    }
    Ok(prev.flatten())
}

fn eval_cmd(
    cmd: &[Operand],
    dot: Option<&Value>,
    root: &Env<'_>,
    prev: Option<Option<Value>>,
) -> Result<Option<Value>> {
    let Some(Operand::Func(name)) = cmd.first() else {
        if cmd.len() > 1 || prev.is_some() {
            bail!("template: can't give argument to non-function");
        }
        return match cmd.first() {
            Some(op) => eval_operand(op, dot, root),
            None => Ok(None),
        };
    };
    let mut args = Vec::new();
    for op in &cmd[1..] {
        args.push(eval_operand(op, dot, root)?);
    }
    if let Some(p) = prev {
        args.push(p);
    }
    call(name, &args)
}

fn eval_operand(op: &Operand, dot: Option<&Value>, root: &Env<'_>) -> Result<Option<Value>> {
    Ok(match op {
        Operand::Path {
            root: from_root,
            fields,
        } => {
            let start = if *from_root { Some(root.root) } else { dot };
            walk(start, fields, root.strict)?
        }
        Operand::Var(name, fields) => {
            let Some((_, v)) = root.vars.iter().rev().find(|(n, _)| n == name) else {
                bail!("template: undefined variable \"${name}\"");
            };
            walk(Some(v), fields, root.strict)?
        }
        Operand::Lit(v) => Some(v.clone()),
        Operand::Func(name) => call(name, &[])?,
        Operand::Sub(pipe, chain) => {
            walk(eval_pipe(pipe, dot, root)?.as_ref(), chain, root.strict)?
        }
    })
}

/// Follows `fields` from `start`; a key is matched exactly first, then case-insensitively (docker
/// evaluates templates on Go structs, whose field names differ in case from the JSON: `ID`/`Id`).
/// `strict`: the value is a Go struct, so only exact names exist and a missing one is an error.
fn walk(start: Option<&Value>, fields: &[String], strict: bool) -> Result<Option<Value>> {
    let Some(mut cur) = start else {
        return Ok(None);
    };
    for field in fields {
        let found = cur.as_object().and_then(|map| match map.get(field) {
            Some(v) => Some(v),
            None if strict => None,
            None => map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(field))
                .map(|(_, v)| v),
        });
        cur = match found {
            Some(v) => v,
            None if strict => bail!("template: can't evaluate field {field}"),
            None => return Ok(None),
        };
    }
    Ok(Some(cur.clone()))
}

/// Go's `printf` for the verbs templates use on text (`%s %v %d %q %%`); each takes the next
/// argument as printed by the template.
fn printf(format: &str, args: &[String]) -> String {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(&format!("{:?}", next.next().map_or("", String::as_str))),
            Some(_) => out.push_str(next.next().map_or("%!v(MISSING)", String::as_str)),
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

fn call(name: &str, args: &[Option<Value>]) -> Result<Option<Value>> {
    let arg = |i: usize| args.get(i).cloned().flatten();
    let text = |i: usize| print_top(args.get(i).and_then(Option::as_ref));
    let need = |n: usize| -> Result<()> {
        if args.len() < n {
            bail!(
                "template: wrong number of args for {name}: want {n} got {}",
                args.len()
            );
        }
        Ok(())
    };
    let value = match name {
        "json" => {
            need(1)?;
            Value::String(serde_json::to_string(&arg(0).unwrap_or(Value::Null))?)
        }
        "index" => {
            need(1)?;
            let mut cur = arg(0);
            for key in &args[1..] {
                cur = match (cur, key) {
                    (Some(Value::Object(m)), Some(Value::String(k))) => m.get(k).cloned(),
                    (Some(Value::Array(a)), Some(Value::Number(n))) => n
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| a.get(i).cloned()),
                    _ => None,
                };
            }
            return Ok(cur);
        }
        "len" => Value::from(match arg(0) {
            Some(Value::Array(a)) => a.len(),
            Some(Value::Object(m)) => m.len(),
            Some(Value::String(s)) => s.len(),
            _ => bail!("template: len of invalid value"),
        }),
        "join" => {
            need(2)?;
            let items = match arg(0) {
                Some(Value::Array(a)) => a.iter().map(print_nested).collect::<Vec<_>>(),
                other => vec![print_top(other.as_ref())],
            };
            Value::String(items.join(&text(1)))
        }
        "split" => {
            need(2)?;
            Value::Array(
                text(0)
                    .split(&text(1))
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            )
        }
        "lower" => Value::String(text(0).to_lowercase()),
        "upper" => Value::String(text(0).to_uppercase()),
        "title" => Value::String(title(&text(0))),
        "truncate" => {
            need(2)?;
            let n = arg(1)
                .and_then(|v| v.as_u64())
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0);
            Value::String(text(0).chars().take(n).collect())
        }
        "pad" => {
            need(3)?;
            let n = |i| {
                arg(i)
                    .and_then(|v| v.as_u64())
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0)
            };
            Value::String(format!(
                "{}{}{}",
                " ".repeat(n(1)),
                text(0),
                " ".repeat(n(2))
            ))
        }
        "print" => Value::String((0..args.len()).map(text).collect()),
        "printf" => {
            need(1)?;
            Value::String(printf(
                &text(0),
                &(1..args.len()).map(text).collect::<Vec<_>>(),
            ))
        }
        "println" => Value::String(format!(
            "{}\n",
            (0..args.len()).map(text).collect::<Vec<_>>().join(" ")
        )),
        "eq" | "ne" => {
            need(2)?;
            let equal = args[1..].iter().any(|a| same(a.as_ref(), args[0].as_ref()));
            Value::Bool(equal == (name == "eq"))
        }
        "not" => Value::Bool(!truthy(args.first().and_then(Option::as_ref))),
        "and" => {
            return Ok(args
                .iter()
                .find(|a| !truthy(a.as_ref()))
                .or(args.last())
                .cloned()
                .flatten())
        }
        "or" => {
            return Ok(args
                .iter()
                .find(|a| truthy(a.as_ref()))
                .or(args.last())
                .cloned()
                .flatten())
        }
        _ => bail!("template: function {name:?} not defined"),
    };
    Ok(Some(value))
}

fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut at_start = true;
    for c in s.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !c.is_alphanumeric();
    }
    out
}

/// Go's truth: false, 0, nil, and empty strings, arrays and maps are false.
/// Fields Go's API types hold as pointers to structs that may be empty: set means true in
/// `if` (`{{if .Spec.Mode.Global}}`), where an empty map would be false.
const POINTER_STRUCTS: &[&str] = &["Global", "GlobalJob", "Replicated", "ReplicatedJob"];

/// Whether `pipe` is a bare field path to one of `POINTER_STRUCTS` that is set.
fn set_struct(pipe: &Pipe, value: Option<&Value>) -> bool {
    let named = match pipe.as_slice() {
        [cmd] => match cmd.as_slice() {
            [Operand::Path { fields, .. }] => fields
                .last()
                .is_some_and(|f| POINTER_STRUCTS.contains(&f.as_str())),
            _ => false,
        },
        _ => false,
    };
    named && matches!(value, Some(Value::Object(_)))
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

/// Prints an action's result as Go does: a missing or nil value is `<no value>`.
pub fn print_top(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "<no value>".to_string(),
        Some(v) => print_nested(v),
    }
}

/// Go's `%v` of a decoded JSON value: `map[k:v]` (sorted keys), `[a b]`, raw strings, `<nil>`.
fn print_nested(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => print_number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(print_nested).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => {
            let mut pairs: Vec<(&String, &Value)> = m.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            // An empty object inside a map is Docker's `struct{}` (ExposedPorts, Volumes),
            // which Go prints as `{}`; a map of its own prints as `map[]`.
            let body: Vec<String> = pairs
                .iter()
                .map(|(k, v)| match v {
                    Value::Object(inner) if inner.is_empty() => format!("{k}:{{}}"),
                    _ => format!("{k}:{}", print_nested(v)),
                })
                .collect();
            format!("map[{}]", body.join(" "))
        }
    }
}

fn print_number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Some(f) => f.to_string(),
        None => n.to_string(),
    }
}
