//! Docker's placeholders in a task's container spec (`--hostname "{{.Node.Hostname}}"`):
//! expanded in the hostname, the environment and mount sources and targets, from the task,
//! its service and the node it runs on. A placeholder berth does not know rejects the task
//! with its name rather than reaching the container as literal text.

use bollard_stubs::models::TaskSpecContainerSpec;

/// What placeholders can name.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub service_id: String,
    pub service_name: String,
    pub node_id: String,
    pub node_hostname: String,
    pub node_os: String,
    pub node_arch: String,
    pub task_id: String,
    pub task_name: String,
    pub task_slot: String,
}

impl Context {
    fn get(&self, path: &str) -> Option<&str> {
        Some(match path {
            ".Service.ID" => &self.service_id,
            ".Service.Name" => &self.service_name,
            ".Node.ID" => &self.node_id,
            ".Node.Hostname" => &self.node_hostname,
            ".Node.Platform.OS" => &self.node_os,
            ".Node.Platform.Architecture" => &self.node_arch,
            ".Task.ID" => &self.task_id,
            ".Task.Name" => &self.task_name,
            ".Task.Slot" => &self.task_slot,
            _ => return None,
        })
    }
}

/// What an error names as the placeholders there are.
const SUPPORTED: &str = "berth has .Service.ID, .Service.Name, .Node.ID, .Node.Hostname, \
     .Node.Platform.OS, .Node.Platform.Architecture, .Task.ID, .Task.Name and .Task.Slot";

/// `s` with every `{{.Path}}` replaced.
pub fn expand(s: &str, ctx: &Context) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("template: unclosed action in {s:?}"))?;
        let inner = after[..close].trim();
        let value = ctx.get(inner).ok_or_else(|| {
            format!("template: unsupported placeholder {{{{{inner}}}}} in {s:?} ({SUPPORTED})")
        })?;
        out.push_str(value);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands the hostname, environment and mounts of `spec` in place.
pub fn expand_spec(spec: &mut TaskSpecContainerSpec, ctx: &Context) -> Result<(), String> {
    if let Some(h) = spec.hostname.as_mut() {
        *h = expand(h, ctx)?;
    }
    for e in spec.env.iter_mut().flatten() {
        *e = expand(e, ctx)?;
    }
    for m in spec.mounts.iter_mut().flatten() {
        for field in [&mut m.source, &mut m.target] {
            if let Some(v) = field.as_mut() {
                *v = expand(v, ctx)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            service_name: "web".into(),
            node_hostname: "n1".into(),
            task_slot: "3".into(),
            ..Context::default()
        }
    }

    #[test]
    fn placeholders_expand_and_an_unknown_one_is_an_error() {
        assert_eq!(
            expand(
                "{{.Service.Name}}-{{ .Task.Slot }}@{{.Node.Hostname}}",
                &ctx()
            )
            .unwrap(),
            "web-3@n1"
        );
        assert_eq!(expand("plain", &ctx()).unwrap(), "plain");
        assert_eq!(
            expand("{{.Service.Labels}}", &ctx()).unwrap_err(),
            format!(
                "template: unsupported placeholder {{{{.Service.Labels}}}} in \"{{{{.Service.Labels}}}}\" ({SUPPORTED})"
            )
        );
        assert!(expand("{{.Node.ID", &ctx()).is_err());
        let mut spec = TaskSpecContainerSpec {
            hostname: Some("{{.Node.Hostname}}".into()),
            env: Some(vec!["SLOT={{.Task.Slot}}".into()]),
            ..Default::default()
        };
        expand_spec(&mut spec, &ctx()).unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("n1"));
        assert_eq!(spec.env, Some(vec!["SLOT=3".to_string()]));
    }
}
