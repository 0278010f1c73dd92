//! Compose's variable substitution in string values: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+other}`, `${VAR+other}` and
//! `$$` for a literal `$`. Keys are never substituted; every string value is, wherever it is.

use serde_yaml::Value;

/// Substitutes every string value under `v`; `path` names where `v` is, for errors.
pub fn interpolate_value(
    v: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    match v {
        Value::String(s) => {
            *s = interpolate(s, lookup).map_err(|e| format!("{e} in {path}"))?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{i}]"), lookup)?;
            }
        }
        Value::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                let key = k.as_str().map_or_else(|| format!("{k:?}"), str::to_string);
                let sub = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                interpolate_value(item, &sub, lookup)?;
            }
        }
        Value::Tagged(t) => interpolate_value(&mut t.value, path, lookup)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// One string with its variables substituted.
pub fn interpolate(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body)
                .ok_or_else(|| format!("invalid interpolation format: \"{s}\""))?;
            out.push_str(&braced(&body[..end], lookup, s)?);
            rest = &body[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                // A lone `$` stays as it is.
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..len]).unwrap_or_default());
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Where the `}` closing a `${` is, counting nested `${…}` in defaults.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The inside of `${…}`.
fn braced(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    whole: &str,
) -> Result<String, String> {
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(name_len);
    if name.is_empty() {
        return Err(format!("invalid interpolation format: \"{whole}\""));
    }
    let value = lookup(name);
    let set_and_not_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let (colon, op) = match op.strip_prefix(':') {
        Some(o) => (true, o),
        None => (false, op),
    };
    let present = if colon {
        set_and_not_empty
    } else {
        value.is_some()
    };
    let Some(kind) = op.chars().next() else {
        return if colon {
            Err(format!("invalid interpolation format: \"{whole}\""))
        } else {
            Ok(value.unwrap_or_default())
        };
    };
    let arg = &op[1..];
    match kind {
        '-' if present => Ok(value.unwrap_or_default()),
        '-' => interpolate(arg, lookup),
        '?' if present => Ok(value.unwrap_or_default()),
        '?' => Err(format!(
            "required variable {name} is missing a value: {}",
            interpolate(arg, lookup)?
        )),
        '+' if present => interpolate(arg, lookup),
        '+' => Ok(String::new()),
        _ => Err(format!("invalid interpolation format: \"{whole}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn every_form_of_substitution() {
        let cases = [
            ("$SET and ${SET}", "value and value"),
            ("${UNSET:-fallback}", "fallback"),
            ("${EMPTY:-fallback}", "fallback"),
            ("${EMPTY-fallback}", ""),
            ("${UNSET-fallback}", "fallback"),
            ("${SET:+other}", "other"),
            ("${UNSET:+other}", ""),
            ("cost: $$5", "cost: $5"),
            ("${UNSET:-${SET}}", "value"),
            ("$UNSET.", "."),
            ("a $ b", "a $ b"),
        ];
        for (input, want) in cases {
            assert_eq!(interpolate(input, &env).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn a_required_variable_and_a_malformed_one_are_errors() {
        assert_eq!(
            interpolate("${UNSET:?set it first}", &env),
            Err("required variable UNSET is missing a value: set it first".into())
        );
        assert_eq!(interpolate("${EMPTY?x}", &env).as_deref(), Ok(""));
        assert!(interpolate("${SET", &env).is_err());
        assert!(interpolate("${}", &env).is_err());
        assert!(interpolate("${SET:}", &env).is_err());
    }

    #[test]
    fn values_are_substituted_and_keys_are_not() {
        let mut v: Value =
            serde_yaml::from_str("$SET: [\"${SET}\", 3]\nk: {n: \"${UNSET:-d}\"}").unwrap();
        interpolate_value(&mut v, "", &env).unwrap();
        assert_eq!(
            serde_yaml::to_string(&v).unwrap(),
            "$SET:\n- value\n- 3\nk:\n  n: d\n"
        );
        let mut bad: Value =
            serde_yaml::from_str("services: {web: {image: \"${X:?no image}\"}}").unwrap();
        assert_eq!(
            interpolate_value(&mut bad, "", &env),
            Err("required variable X is missing a value: no image in services.web.image".into())
        );
    }
}
