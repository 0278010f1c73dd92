//! `version` and `info`: docker's layouts (client and server sections) and `--format` templates
//! over values whose keys are docker's Go field names (`.Server.APIVersion`, `.ServerVersion`).

use anyhow::Result;
use bollard::models::{SystemInfo, SystemVersion};
use bollard::API_DEFAULT_VERSION;
use clap::Args;
use serde_json::{json, Value};

use crate::client::Client;
use crate::output::{units, Template};

/// `berth version` / `berth info`
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Format output using a Go template (or "json")
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

fn template(format: Option<&str>) -> Result<Option<Template>> {
    Ok(match format {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    })
}

fn client_version(context: &str) -> Value {
    json!({
        "Platform": {"Name": "berth"},
        "Version": env!("CARGO_PKG_VERSION"),
        "APIVersion": format!("{}.{}", API_DEFAULT_VERSION.major_version, API_DEFAULT_VERSION.minor_version),
        "DefaultAPIVersion": format!("{}.{}", API_DEFAULT_VERSION.major_version, API_DEFAULT_VERSION.minor_version),
        "Os": std::env::consts::OS,
        "Arch": go_arch(std::env::consts::ARCH),
        "Context": context,
    })
}

fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The server half with Go's field names (the API's JSON says `ApiVersion`).
fn server_version(v: &SystemVersion) -> Value {
    json!({
        "Platform": {"Name": v.platform.as_ref().map(|p| p.name.clone()).unwrap_or_default()},
        "Components": v.components,
        "Version": v.version, "APIVersion": v.api_version, "MinAPIVersion": v.min_api_version,
        "GitCommit": v.git_commit, "GoVersion": v.go_version, "Os": v.os, "Arch": v.arch,
        "KernelVersion": v.kernel_version, "Experimental": v.experimental.unwrap_or(false),
        "BuildTime": v.build_time,
    })
}

/// `berth version`: the client section always; the server's when the daemon answers.
pub async fn version(client: &Client, args: FormatArgs) -> Result<i32> {
    let tpl = template(args.format.as_deref())?;
    let local = client_version(&client.context);
    let server = match client.docker() {
        Ok(docker) => docker.version().await.map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    let server_value = server.as_ref().ok().map(server_version);
    if let Some(t) = tpl {
        let data = json!({"Client": local, "Server": server_value});
        println!("{}", t.render(&data)?);
    } else {
        print_client(&local);
        if let Ok(v) = &server {
            println!();
            print_server(v);
        }
    }
    match server {
        Ok(_) => Ok(0),
        Err(e) => {
            eprintln!("{}", client.describe(&e));
            Ok(1)
        }
    }
}

fn print_client(c: &Value) {
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    println!("Client:");
    println!(" Version:           {}", s("Version"));
    println!(" API version:       {}", s("APIVersion"));
    println!(" OS/Arch:           {}/{}", s("Os"), s("Arch"));
    println!(" Context:           {}", s("Context"));
}

fn print_server(v: &SystemVersion) {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let name = v
        .platform
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    println!(
        "Server:{}",
        if name.is_empty() {
            String::new()
        } else {
            format!(" {name}")
        }
    );
    println!(" Engine:");
    println!("  Version:          {}", opt(&v.version));
    let min = v
        .min_api_version
        .as_ref()
        .map(|m| format!(" (minimum version {m})"))
        .unwrap_or_default();
    println!("  API version:      {}{min}", opt(&v.api_version));
    if v.go_version.is_some() {
        println!("  Go version:       {}", opt(&v.go_version));
    }
    if v.git_commit.is_some() {
        println!("  Git commit:       {}", opt(&v.git_commit));
    }
    if v.build_time.is_some() {
        println!("  Built:            {}", opt(&v.build_time));
    }
    println!("  OS/Arch:          {}/{}", opt(&v.os), opt(&v.arch));
    println!("  Experimental:     {}", v.experimental.unwrap_or(false));
    for component in v.components.iter().flatten().filter(|c| c.name != "Engine") {
        println!(" {}:", component.name);
        println!("  Version:          {}", component.version);
        let mut details: Vec<_> = component.details.iter().flatten().collect();
        details.sort();
        for (k, val) in details {
            println!(
                "  {k}:{}{val}",
                " ".repeat(17usize.saturating_sub(k.len() + 1))
            );
        }
    }
}

/// `berth info`
pub async fn info(client: &Client, args: FormatArgs) -> Result<i32> {
    let tpl = template(args.format.as_deref())?;
    let info = client.docker()?.info().await?;
    let value = serde_json::to_value(&info)?;
    if let Some(t) = tpl {
        println!("{}", t.render(&value)?);
        return Ok(0);
    }
    print!("{}", info_text(&info, &value, &client.context));
    for warning in info.warnings.iter().flatten() {
        eprintln!("{warning}");
    }
    Ok(0)
}

/// `docker info`'s readable layout of the fields the daemon returned.
fn info_text(info: &SystemInfo, value: &Value, context: &str) -> String {
    let mut out = String::new();
    let text = |key: &str| match &value[key] {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    out.push_str(&format!(
        "Client:\n Version:    {}\n Context:    {context}\n Debug Mode: false\n\nServer:\n",
        env!("CARGO_PKG_VERSION")
    ));
    let mut line = |indent: usize, key: &str, val: Option<String>| {
        if let Some(val) = val {
            out.push_str(&format!("{}{key}: {val}\n", " ".repeat(indent)));
        }
    };
    line(1, "Containers", text("Containers"));
    line(2, "Running", text("ContainersRunning"));
    line(2, "Paused", text("ContainersPaused"));
    line(2, "Stopped", text("ContainersStopped"));
    line(1, "Images", text("Images"));
    line(1, "Server Version", text("ServerVersion"));
    line(1, "Storage Driver", text("Driver"));
    for pair in info.driver_status.iter().flatten() {
        if let [k, v] = pair.as_slice() {
            line(2, k, Some(v.clone()));
        }
    }
    line(1, "Logging Driver", text("LoggingDriver"));
    line(1, "Cgroup Driver", text("CgroupDriver"));
    line(1, "Cgroup Version", text("CgroupVersion"));
    line(1, "Default Runtime", text("DefaultRuntime"));
    line(1, "Kernel Version", text("KernelVersion"));
    line(1, "Operating System", text("OperatingSystem"));
    line(1, "OSType", text("OSType"));
    line(1, "Architecture", text("Architecture"));
    line(1, "CPUs", text("NCPU"));
    line(
        1,
        "Total Memory",
        info.mem_total.map(|m| units::bytes_size(m as f64)),
    );
    line(1, "Name", text("Name"));
    line(1, "ID", text("ID"));
    line(1, "Docker Root Dir", text("DockerRootDir"));
    line(1, "Debug Mode", text("Debug"));
    line(1, "Experimental", text("ExperimentalBuild"));
    line(1, "Live Restore Enabled", text("LiveRestoreEnabled"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_prints_docker_layout_and_skips_absent_fields() {
        let info = SystemInfo {
            containers: Some(3),
            containers_running: Some(1),
            server_version: Some("0.1.0".into()),
            mem_total: Some(25_000_000_000),
            ..Default::default()
        };
        let value = serde_json::to_value(&info).unwrap();
        let text = info_text(&info, &value, "default");
        assert!(text.contains("Server:\n Containers: 3\n  Running: 1\n"));
        assert!(text.contains(" Server Version: 0.1.0\n"));
        assert!(text.contains(" Total Memory: 23.28GiB\n"));
        assert!(!text.contains("Kernel Version"));
    }

    #[test]
    fn version_template_sees_go_field_names() {
        let v = SystemVersion {
            api_version: Some("1.44".into()),
            ..Default::default()
        };
        let data = json!({"Client": client_version("default"), "Server": server_version(&v)});
        let t = Template::parse("{{.Server.APIVersion}} {{.Client.Version}}").unwrap();
        assert_eq!(
            t.render(&data).unwrap(),
            format!("1.44 {}", env!("CARGO_PKG_VERSION"))
        );
    }
}
