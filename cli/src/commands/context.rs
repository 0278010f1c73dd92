//! `berth context ls|inspect|show|use|create|update|rm` over the docker CLI's own context store
//! (`context_store/`), with docker's output, messages and exit codes, so a context made by
//! either CLI works in the other (`ls` and `inspect` are in `context_list.rs`, `--docker` in
//! `context_endpoint.rs`). `export` and `import` are refused by name. No daemon calls.

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};

use super::context_endpoint::{docker_endpoint_from, parse_docker_opts, DockerOpts};
use crate::connect::{self, Env, Globals};
use crate::context_store::{validate_name, Context, Store, TlsFiles, DEFAULT_CONTEXT};
use crate::tls::{ClientTls, ServerCheck};

/// `berth context …`
#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// Create a context
    Create(CreateArgs),
    /// Export a context to a tar archive FILE or a tar stream on STDOUT.
    Export(PassArgs),
    /// Import a context from a tar or zip file
    Import(PassArgs),
    /// Display detailed information on one or more contexts
    Inspect(InspectArgs),
    /// List contexts
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Remove one or more contexts
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Print the name of the current context
    Show,
    /// Update a context
    Update(UpdateArgs),
    /// Set the current docker context
    Use(UseArgs),
}

/// `berth context create`
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Description of the context
    #[arg(long, default_value = "")]
    pub description: String,
    /// set the docker endpoint (host=…,ca=…,cert=…,key=…,skip-tls-verify=…,from=…)
    #[arg(long, value_name = "stringToString", value_parser = parse_docker_opts)]
    pub docker: Vec<DockerOpts>,
    /// create context from a named context
    #[arg(long)]
    pub from: Option<String>,
    /// CONTEXT
    pub name: String,
}

/// `berth context update`
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Description of the context
    #[arg(long, default_value = "")]
    pub description: String,
    /// set the docker endpoint
    #[arg(long, value_name = "stringToString", value_parser = parse_docker_opts)]
    pub docker: Vec<DockerOpts>,
    /// CONTEXT
    pub name: String,
}

/// `berth context ls`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'
    #[arg(long, default_value = "")]
    pub format: String,
    /// Only show context names
    #[arg(short, long)]
    pub quiet: bool,
}

/// `berth context inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template: 'json', 'TEMPLATE'
    #[arg(short, long)]
    pub format: Option<String>,
    /// CONTEXT
    pub names: Vec<String>,
}

/// `berth context rm`
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a context in use
    #[arg(short, long)]
    pub force: bool,
    /// CONTEXT
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `berth context use`
#[derive(Debug, Args)]
pub struct UseArgs {
    /// CONTEXT
    pub name: String,
}

/// `berth context export|import` (refused)
#[derive(Debug, Args)]
pub struct PassArgs {
    /// The context and the file
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Runs a context command; errors print as docker prints them (exit 1).
pub fn run(g: &Globals, env: Env<'_>, command: ContextCommand) -> i32 {
    let store = Store::from_env(env);
    let result = Session {
        g,
        env,
        store: &store,
    }
    .dispatch(command);
    result.unwrap_or_else(|e| {
        eprintln!("{e:#}");
        1
    })
}

/// One context command's view of the flags, the environment and the store.
pub(super) struct Session<'a> {
    pub(super) g: &'a Globals,
    pub(super) env: Env<'a>,
    pub(super) store: &'a Store,
}

impl Session<'_> {
    fn dispatch(&self, command: ContextCommand) -> Result<i32> {
        match command {
            ContextCommand::Create(a) => self.create(a),
            ContextCommand::Export(_) | ContextCommand::Import(_) => bail!(
                "berth cannot export or import contexts; use `docker context export` and \
                 `docker context import` (berth reads the contexts they make)"
            ),
            ContextCommand::Inspect(a) => self.inspect(a),
            ContextCommand::Ls(a) => self.list(a),
            ContextCommand::Rm(a) => self.remove(a),
            ContextCommand::Show => {
                println!("{}", self.current()?);
                Ok(0)
            }
            ContextCommand::Update(a) => self.update(a),
            ContextCommand::Use(a) => self.use_context(&a.name),
        }
    }

    pub(super) fn current(&self) -> Result<String> {
        connect::current_context(self.g, self.env, self.store)
    }

    /// A context by name, `default` included, with the TLS files it would copy.
    pub(super) fn get(&self, name: &str) -> Result<(Context, TlsFiles)> {
        if name == DEFAULT_CONTEXT {
            let (ctx, tls) = connect::default_context(self.g, self.env)?;
            return Ok((
                ctx,
                tls.map(|t| default_tls_files(&t))
                    .transpose()?
                    .unwrap_or_default(),
            ));
        }
        let ctx = self.store.get(name)?;
        let mut files = Vec::new();
        for f in self
            .store
            .tls_files(name)?
            .remove("docker")
            .unwrap_or_default()
        {
            let path = self.store.tls_dir(name).join("docker").join(&f);
            files.push((f, std::fs::read(path)?));
        }
        Ok((ctx, files))
    }

    pub(super) fn warn_host_override(&self, name: Option<&str>) {
        let Some(var) = connect::host_override(self.env) else {
            return;
        };
        let what = name.map_or("a context".to_string(), |n| format!("{n:?}"));
        eprintln!(
            "Warning: {var} environment variable overrides the active context. To use {what}, \
             either set the global --context flag, or unset {var} environment variable."
        );
    }

    fn use_context(&self, name: &str) -> Result<i32> {
        let value = if name == DEFAULT_CONTEXT {
            None
        } else {
            validate_name(name)?;
            self.store.get(name)?;
            Some(name)
        };
        self.store.set_current(value)?;
        println!("{name}");
        eprintln!("Current context is now {name:?}");
        if name != DEFAULT_CONTEXT {
            self.warn_host_override(Some(name));
        }
        Ok(0)
    }

    fn create(&self, a: CreateArgs) -> Result<i32> {
        validate_name(&a.name)?;
        if self.store.exists(&a.name) {
            bail!("context {:?} already exists", a.name);
        }
        let docker = merge(&a.docker);
        match (a.from.as_deref(), docker) {
            (Some(_), Some(d)) if !d.is_empty() => {
                bail!("cannot use --docker flag when --from is set")
            }
            (from, None) | (from @ Some(_), Some(_)) => {
                let source = match from {
                    Some(f) => f.to_string(),
                    None => self.current()?,
                };
                let (mut ctx, files) = self.get(&source)?;
                ctx.name.clone_from(&a.name);
                if !a.description.is_empty() {
                    ctx.set_description(&a.description);
                }
                self.store.write(&ctx)?;
                self.store.reset_tls(&a.name, &files)?;
            }
            (None, Some(d)) => {
                let (ep, files) = docker_endpoint_from(&d, |n| self.get(n).map(|(c, _)| c))
                    .map_err(|e| anyhow!("unable to create docker endpoint config: {e:#}"))?;
                self.store
                    .write(&Context::new(&a.name, &a.description, &ep))?;
                self.store.reset_tls(&a.name, &files)?;
            }
        }
        println!("{}", a.name);
        eprintln!("Successfully created context {:?}", a.name);
        Ok(0)
    }

    fn update(&self, a: UpdateArgs) -> Result<i32> {
        validate_name(&a.name)?;
        let mut ctx = self.store.get(&a.name)?;
        if !a.description.is_empty() {
            ctx.set_description(&a.description);
        }
        let mut tls = None;
        if let Some(d) = merge(&a.docker) {
            let (ep, files) = docker_endpoint_from(&d, |n| self.get(n).map(|(c, _)| c))
                .map_err(|e| anyhow!("unable to create docker endpoint config: {e:#}"))?;
            ctx.set_docker_endpoint(&ep);
            tls = Some(files);
        }
        self.store.write(&ctx)?;
        if let Some(files) = tls {
            self.store.reset_tls(&a.name, &files)?;
        }
        println!("{}", a.name);
        eprintln!("Successfully updated context {:?}", a.name);
        Ok(0)
    }

    fn remove(&self, a: RmArgs) -> Result<i32> {
        let current = self.current()?;
        let mut errors = Vec::new();
        for name in &a.names {
            match self.remove_one(name, name == &current, a.force) {
                Ok(()) => println!("{name}"),
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        if errors.is_empty() {
            return Ok(0);
        }
        bail!("{}", errors.join("\n"))
    }

    fn remove_one(&self, name: &str, is_current: bool, force: bool) -> Result<()> {
        if name == DEFAULT_CONTEXT {
            bail!("context \"default\" cannot be removed");
        }
        if is_current {
            if !force {
                bail!("context {name:?} is in use, set -f flag to force remove");
            }
            // As docker: fall back to the default (DOCKER_HOST) configuration.
            self.store.set_current(None)?;
        }
        if !force && !self.store.exists(name) {
            bail!("context {name:?} does not exist");
        }
        self.store.remove(name)
    }
}

/// The `--docker` flags as one map, later keys winning (pflag's StringToString).
fn merge(list: &[DockerOpts]) -> Option<DockerOpts> {
    if list.is_empty() {
        return None;
    }
    let mut out = DockerOpts::new();
    for opts in list {
        out.extend(opts.clone());
    }
    Some(out)
}

/// The TLS material the `default` context would copy: its CA, certificate and key files.
fn default_tls_files(tls: &ClientTls) -> Result<TlsFiles> {
    let mut files = Vec::new();
    if let ServerCheck::Ca(ca) = &tls.verify {
        if ca.exists() {
            files.push(("ca.pem".to_string(), std::fs::read(ca)?));
        }
    }
    if let Some((cert, key)) = &tls.identity {
        files.push(("cert.pem".to_string(), std::fs::read(cert)?));
        files.push(("key.pem".to_string(), std::fs::read(key)?));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_flags_merge_later_keys_winning() {
        let a = parse_docker_opts("host=unix:///a,ca=/c").unwrap();
        let b = parse_docker_opts("host=unix:///b").unwrap();
        let m = merge(&[a, b]).unwrap();
        assert_eq!(m["host"], "unix:///b");
        assert_eq!(m["ca"], "/c");
        assert_eq!(merge(&[]), None);
    }
}
