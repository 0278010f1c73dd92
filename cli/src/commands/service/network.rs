//! `--network` (create) and `--network-add`/`--network-rm` (update): a network by name or id,
//! or docker's long form `name=NET,alias=A,alias=B,driver-opt=K=V`.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{NetworkAttachmentConfig, ServiceSpec};
use bollard::query_parameters::ListNetworksOptions;
use bollard::Docker;

/// Every network's name by its id.
pub async fn names_by_id(
    docker: &Docker,
) -> Result<BTreeMap<String, String>, bollard::errors::Error> {
    Ok(docker
        .list_networks(None::<ListNetworksOptions>)
        .await?
        .into_iter()
        .filter_map(|n| Some((n.id?, n.name?)))
        .collect())
}

/// The daemon keeps a service's networks by id, as moby does; the flags and stack files name
/// them: a stored spec is read with names (`names`: id → name), so `--network-rm front` finds
/// its network and a stack plan compares like with like. Sent back, the names are resolved to
/// the same ids.
pub fn name_targets(spec: &mut ServiceSpec, names: &BTreeMap<String, String>) {
    let networks = spec
        .task_template
        .iter_mut()
        .flat_map(|t| t.networks.iter_mut().flatten());
    for n in networks {
        if let Some(name) = n.target.as_ref().and_then(|t| names.get(t)) {
            n.target = Some(name.clone());
        }
    }
}

/// Parses one `--network` value as docker does.
pub fn parse(s: &str) -> Result<NetworkAttachmentConfig, String> {
    if !s.contains('=') {
        if s.trim().is_empty() {
            return Err("invalid network: empty name".into());
        }
        return Ok(NetworkAttachmentConfig {
            target: Some(s.to_string()),
            ..Default::default()
        });
    }
    let mut target = None;
    let mut aliases = Vec::new();
    let mut opts = HashMap::new();
    for field in s.split(',') {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
        match k.trim().to_lowercase().as_str() {
            "name" | "target" => target = Some(v.to_string()),
            "alias" => aliases.push(v.to_string()),
            "driver-opt" => {
                let (ok, ov) = v
                    .split_once('=')
                    .ok_or_else(|| format!("invalid driver-opt '{v}': must be key=value"))?;
                opts.insert(ok.to_string(), ov.to_string());
            }
            other => return Err(format!("invalid field key {other}")),
        }
    }
    let target = target.ok_or("network name/id is not specified")?;
    Ok(NetworkAttachmentConfig {
        target: Some(target),
        aliases: (!aliases.is_empty()).then_some(aliases),
        driver_opts: (!opts.is_empty()).then_some(opts),
    })
}

/// Docker's `updateNetworks`: removed by name or id, added ones replace those on the same
/// network; adding one already attached is refused.
pub fn update(
    mut current: Vec<NetworkAttachmentConfig>,
    add: &[NetworkAttachmentConfig],
    rm: &[String],
) -> Result<Vec<NetworkAttachmentConfig>, String> {
    current.retain(|n| !n.target.as_ref().is_some_and(|t| rm.contains(t)));
    for a in add {
        if current.iter().any(|n| n.target == a.target) {
            return Err(format!(
                "service is already attached to network {}",
                a.target.as_deref().unwrap_or("")
            ));
        }
        current.push(a.clone());
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_ids_read_as_names() {
        let mut spec: ServiceSpec = serde_json::from_value(serde_json::json!({"TaskTemplate":
            {"Networks": [{"Target": "n1id"}, {"Target": "ingress"}]}}))
        .unwrap();
        let names = BTreeMap::from([("n1id".to_string(), "front".to_string())]);
        name_targets(&mut spec, &names);
        let targets: Vec<_> = spec.task_template.unwrap().networks.unwrap();
        assert_eq!(targets[0].target.as_deref(), Some("front"));
        assert_eq!(targets[1].target.as_deref(), Some("ingress"));
    }

    #[test]
    fn short_and_long_forms_parse_as_docker_reads_them() {
        assert_eq!(parse("front").unwrap().target.as_deref(), Some("front"));
        let n = parse("name=front,alias=web,alias=www,driver-opt=k=v").unwrap();
        assert_eq!(n.target.as_deref(), Some("front"));
        assert_eq!(n.aliases, Some(vec!["web".to_string(), "www".to_string()]));
        assert_eq!(n.driver_opts.unwrap()["k"], "v");
        assert!(parse("alias=x").unwrap_err().contains("not specified"));
        assert!(parse("name=x,bogus=1").unwrap_err().contains("bogus"));
    }

    #[test]
    fn updates_remove_then_add_and_refuse_a_duplicate() {
        let cur = vec![parse("a").unwrap(), parse("b").unwrap()];
        let out = update(cur.clone(), &[parse("c").unwrap()], &["a".into()]).unwrap();
        let names: Vec<_> = out.iter().filter_map(|n| n.target.clone()).collect();
        assert_eq!(names, vec!["b".to_string(), "c".to_string()]);
        assert!(update(cur, &[parse("b").unwrap()], &[]).is_err());
    }
}
