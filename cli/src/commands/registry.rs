//! Registry commands: `pull`, `push` (progress bars per layer and overall, `--quiet`,
//! `--platform`), `login` (checks the credentials through the daemon, then saves them with mode
//! 0600) and `logout`. Saved credentials go with every pull and push as `X-Registry-Auth`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{CreateImageOptionsBuilder, PushImageOptionsBuilder};
use clap::Args;
use futures_util::StreamExt;

use crate::client::Client;
use crate::credentials::{self, config_path, server_key};
use crate::output::progress::{Message, ProgressView};

/// `berth pull`
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// NAME[:TAG|@DIGEST]
    pub image: String,
}

/// `berth push`
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// NAME[:TAG]
    pub image: String,
}

/// `berth login`
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// SERVER (default Docker Hub)
    pub server: Option<String>,
}

/// `berth logout`
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// SERVER (default Docker Hub)
    pub server: Option<String>,
}

/// Splits `name:tag` (a `:` after the last `/`); `name@digest` is passed whole.
fn split_tag(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (image, None),
    }
}

/// Runs `berth pull`.
pub async fn pull(client: &Client, args: PullArgs) -> Result<i32> {
    let shown = pull_image(client, &args.image, args.platform.as_deref(), args.quiet).await?;
    println!("{shown}");
    Ok(0)
}

/// Pulls `image`, showing progress on stderr unless `quiet`; returns the name pulled
/// (`name:tag` or `name@digest`). `run` and `create` use it for a missing image.
pub async fn pull_image(
    client: &Client,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
) -> Result<String> {
    let docker = client.docker()?;
    let (name, tag) = split_tag(image);
    let tag = tag.unwrap_or(if name.contains('@') { "" } else { "latest" });
    if tag == "latest" && !image.ends_with(":latest") && !quiet {
        eprintln!("Using default tag: latest");
    }
    let mut options = CreateImageOptionsBuilder::new().from_image(name).tag(tag);
    if let Some(p) = platform {
        options = options.platform(p);
    }
    let mut stream = docker.create_image(Some(options.build()), None, credentials::saved_for(name));
    let mut view = ProgressView::new(quiet);
    while let Some(item) = stream.next().await {
        let info = item?;
        let progress = info.progress_detail.as_ref().and_then(|d| {
            Some((
                u64::try_from(d.current?).ok()?,
                u64::try_from(d.total?).ok()?,
            ))
        });
        view.show(
            &Message {
                id: info.id.as_deref(),
                status: info.status.as_deref(),
                progress,
            },
            quiet,
        );
    }
    view.finish();
    Ok(if tag.is_empty() {
        name.to_string()
    } else {
        format!("{name}:{tag}")
    })
}

/// Runs `berth push`.
pub async fn push(client: &Client, args: PushArgs) -> Result<i32> {
    let docker = client.docker()?;
    let (name, tag) = split_tag(&args.image);
    let mut options = PushImageOptionsBuilder::new();
    if let Some(t) = tag {
        options = options.tag(t);
    }
    let creds = credentials::saved_for(name).or_else(|| Some(DockerCredentials::default()));
    let mut stream = docker.push_image(name, Some(options.build()), creds);
    let mut view = ProgressView::new(args.quiet);
    while let Some(item) = stream.next().await {
        let info = item?;
        // bollard's push messages carry no layer id: show one bar for the layer in flight.
        let progress = info.progress_detail.as_ref().and_then(|d| {
            Some((
                u64::try_from(d.current?).ok()?,
                u64::try_from(d.total?).ok()?,
            ))
        });
        let status = info.status.as_deref();
        if status.is_some_and(|s| s.contains(": digest: ")) && args.quiet {
            println!("{}", args.image);
        }
        view.show(
            &Message {
                id: progress.map(|_| "layer"),
                status,
                progress,
            },
            args.quiet,
        );
    }
    view.finish();
    Ok(0)
}

/// Runs `berth login`: the daemon checks the credentials against the registry first.
pub async fn login(client: &Client, args: LoginArgs) -> Result<i32> {
    let key = server_key(args.server.as_deref());
    let username = match args.username {
        Some(u) => u,
        None => prompt("Username: ", true)?,
    };
    let password = match (args.password, args.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p
        }
        (None, true) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => prompt("Password: ", false)?,
    };
    if username.is_empty() || password.is_empty() {
        bail!("Error: username and password are required");
    }
    let host = if key == credentials::DOCKER_HUB_KEY {
        "docker.io".to_string()
    } else {
        key.clone()
    };
    // Any repository will do: a 404 means the registry accepted the credentials.
    let probe = format!("{host}/berth-login-check:latest");
    let creds = credentials::credentials(&key, &username, &password);
    match client
        .docker()?
        .inspect_registry_image(&probe, Some(creds))
        .await
    {
        Ok(_) => {}
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {}
        Err(e) => return Err(e.into()),
    }
    credentials::store(&config_path(), &key, &username, &password)?;
    println!("Login Succeeded");
    Ok(0)
}

/// Runs `berth logout`.
pub async fn logout(_client: &Client, args: LogoutArgs) -> Result<i32> {
    let key = server_key(args.server.as_deref());
    if credentials::remove(&config_path(), &key)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}

/// Reads a line from the terminal; without echo for passwords.
fn prompt(text: &str, echo: bool) -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("Error: Cannot perform an interactive login from a non TTY device");
    }
    eprint!("{text}");
    std::io::stderr().flush()?;
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let saved = if echo {
        None
    } else {
        let saved = tcgetattr(&stdin)?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet)?;
        Some(saved)
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_after_the_last_slash_only() {
        assert_eq!(split_tag("busybox"), ("busybox", None));
        assert_eq!(split_tag("busybox:1.36"), ("busybox", Some("1.36")));
        assert_eq!(
            split_tag("localhost:5000/app"),
            ("localhost:5000/app", None)
        );
        assert_eq!(
            split_tag("localhost:5000/app:v1"),
            ("localhost:5000/app", Some("v1"))
        );
        assert_eq!(split_tag("app@sha256:abc"), ("app@sha256:abc", None));
    }
}
