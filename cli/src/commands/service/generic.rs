//! `--generic-resource KIND=N` (create) and `--generic-resource-add/-rm` (update): counts of a
//! node's generic resources a task reserves, as docker's CLI sends them.

use bollard::models::{
    GenericResourcesInner as Resource, GenericResourcesInnerDiscreteResourceSpec as Discrete,
    ResourceObject, TaskSpec, TaskSpecResources,
};

/// `KIND=N` with N a positive whole number.
pub fn parse(text: &str) -> Result<Resource, String> {
    let (kind, value) = text
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("invalid generic resource specification {text:?}: use KIND=N"))?;
    let n: i64 = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        format!(
            "invalid generic resource specification {text:?}: N must be a positive whole number"
        )
    })?;
    Ok(Resource {
        named_resource_spec: None,
        discrete_resource_spec: Some(Discrete {
            kind: Some(kind.to_string()),
            value: Some(n),
        }),
    })
}

fn kind(r: &Resource) -> Option<&str> {
    r.discrete_resource_spec.as_ref()?.kind.as_deref()
}

/// Adds `add` (replacing a kind already reserved) after removing the kinds in `rm`; nothing
/// changes when both are empty.
pub fn edit(task: &mut TaskSpec, add: &[Resource], rm: &[String]) {
    if add.is_empty() && rm.is_empty() {
        return;
    }
    let reservations = task
        .resources
        .get_or_insert_with(TaskSpecResources::default)
        .reservations
        .get_or_insert_with(ResourceObject::default);
    let mut list = reservations.generic_resources.take().unwrap_or_default();
    list.retain(|r| {
        kind(r)
            .is_none_or(|k| !rm.iter().any(|x| x == k) && !add.iter().any(|a| kind(a) == Some(k)))
    });
    list.extend(add.iter().cloned());
    reservations.generic_resources = (!list.is_empty()).then_some(list);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_and_edits_replace_by_kind() {
        assert!(parse("gpu").is_err());
        assert!(parse("gpu=two").is_err());
        assert!(parse("gpu=0").is_err());
        let mut task = TaskSpec::default();
        edit(
            &mut task,
            &[parse("gpu=1").unwrap(), parse("ssd=2").unwrap()],
            &[],
        );
        edit(&mut task, &[parse("gpu=3").unwrap()], &["ssd".into()]);
        let got = task
            .resources
            .unwrap()
            .reservations
            .unwrap()
            .generic_resources
            .unwrap();
        assert_eq!(got, vec![parse("gpu=3").unwrap()]);
    }
}
