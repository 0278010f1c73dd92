//! One build stage's state and the instructions that only change metadata (ENV, LABEL, CMD,
//! …): each is a commit of a new image with an empty layer, found in the build cache when a
//! previous build made the same step on the same parent. The image config and history are
//! written as the classic builder writes them (`created_by` = the step's command, `#(nop)`
//! for metadata).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::args::BuildArgs;
use super::config;
use super::dockerfile::shell::{Lex, Vars};
use super::dockerfile::{Command, CommandLine, Instruction, KeyValue};
use super::format::{plain_list, quote, quote_list, quote_rune};
use super::output::short_id;
use super::sources::SourceTree;
use super::{BuildBackend, BuildOptions, BuildOutput};
use crate::engine::image::{ImageConfigFile, RunConfig};
use crate::error::{EngineError, Result};

/// What every step of a build shares.
pub struct Shared<'a> {
    pub backend: &'a dyn BuildBackend,
    pub out: &'a BuildOutput,
    pub opts: &'a BuildOptions,
    pub context: &'a dyn SourceTree,
    /// The Dockerfile being built.
    pub dockerfile: &'a super::dockerfile::Dockerfile,
    /// Finished stages, by their index in the Dockerfile: (name, image id).
    pub stages: Vec<(usize, Option<String>, String)>,
    /// Only the settings change (`docker commit --change`): nothing is committed or made.
    pub no_commit: bool,
    /// `--cache-from`'s images: when there are some, the cache (moby narrows them to the one
    /// that matched once a step is taken from it).
    pub cache_from: std::sync::Mutex<Vec<super::cache_from::CacheSource>>,
}

/// A stage being built: the current image and the settings of the next one.
pub struct StageState {
    /// The stage's index in the Dockerfile.
    pub index: usize,
    pub name: Option<String>,
    /// The current image's id (empty for `scratch` before the first commit).
    pub image_id: String,
    /// The current image's whole config (the parent of the next commit).
    pub image: ImageConfigFile,
    /// The next image's settings.
    pub config: RunConfig,
    pub args: BuildArgs,
    /// Whether a CMD was given in this stage (then ENTRYPOINT keeps it).
    pub cmd_set: bool,
    pub maintainer: String,
    pub lex: Lex,
}

impl StageState {
    /// The variables an instruction's arguments are expanded with: the environment and the
    /// build arguments it does not override.
    pub fn vars(&self) -> Vars {
        let mut env = self.config.env.clone();
        env.extend(self.args.filter_allowed(&self.config.env));
        Vars::from_env(&env)
    }

    /// `word` expanded.
    pub fn expand(&self, word: &str) -> Result<String> {
        self.lex
            .process_word(word, &self.vars())
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))
    }

    /// A shell-form command with the current shell in front; an exec form as it is.
    pub fn command_line(&self, line: &CommandLine) -> Vec<String> {
        if line.shell_form && !line.args.is_empty() {
            let mut v = config::shell(&self.config);
            v.push(line.args.join(" "));
            v
        } else {
            line.args.clone()
        }
    }

    /// The step's container config for a metadata step: the settings with `#(nop)` and the
    /// comment as its command (Docker's cache key and `created_by`).
    pub fn nop(&self, comment: &str, joined: bool) -> RunConfig {
        let mut probe = self.config.clone();
        let mut cmd = config::shell(&self.config);
        if joined {
            cmd.push(format!("#(nop) {comment}"));
        } else {
            cmd.push("#(nop) ".into());
            cmd.push(comment.into());
        }
        probe.cmd = Some(cmd);
        probe
    }

    /// Looks the step up in the build cache (`--cache-from`'s images instead when named); on a
    /// hit the stage moves to the cached image.
    pub fn probe(&mut self, sh: &Shared<'_>, step: &RunConfig) -> Result<bool> {
        if sh.no_commit {
            return Ok(true);
        }
        if sh.opts.no_cache {
            return Ok(false);
        }
        let id = if sh.opts.cache_from.is_empty() {
            sh.backend.cached(&self.image_id, &cache_key(step))?
        } else {
            self.cached_in_sources(sh, step)?
        };
        let Some(id) = id else {
            return Ok(false);
        };
        sh.out.stream(" ---> Using cache\n");
        self.image = sh.backend.image(&id)?.config;
        self.image_id = id;
        Ok(true)
    }

    /// The image `--cache-from` holds for `step`: a source itself when the step is its last,
    /// else the step's image made again from the source's history entry and layer (moby's
    /// `restoreCachedImage`), after which only that source is looked at.
    fn cached_in_sources(&self, sh: &Shared<'_>, step: &RunConfig) -> Result<Option<String>> {
        use super::cache_from::{find, CacheMatch};
        let mut sources = sh
            .cache_from
            .lock()
            .map_err(|_| EngineError::Internal("build cache sources poisoned".into()))?;
        let parent = (!self.image_id.is_empty()).then_some(&self.image);
        let created_by = step.cmd.clone().unwrap_or_default().join(" ");
        match find(&sources, parent, &created_by) {
            None => Ok(None),
            Some(CacheMatch::Whole(id)) => Ok(Some(id)),
            Some(CacheMatch::Step {
                source,
                entry,
                layer,
            }) => {
                let created = entry.get("created").and_then(Value::as_str).unwrap_or("");
                let mut next = self.next_image(step, None, created);
                if let Some(diff_id) = layer {
                    next.rootfs.diff_ids.push(diff_id);
                }
                next.history.push(entry);
                let id = sh.backend.commit(&self.image_id, &next, &cache_key(step))?;
                sources.retain(|s| s.id == source);
                Ok(Some(id))
            }
        }
    }

    /// The next image's config without its new history entry and layer: the current settings,
    /// `step` as its container config, made at `created`.
    fn next_image(
        &self,
        step: &RunConfig,
        container: Option<&str>,
        created: &str,
    ) -> ImageConfigFile {
        let mut next = self.image.clone();
        let mut settings = self.config.clone();
        settings.extra.insert("Image".into(), json!(self.image_id));
        let mut step_cfg = step.clone();
        step_cfg.extra.insert("Image".into(), json!(self.image_id));
        next.config = settings;
        next.created = Some(created.to_string());
        next.extra.remove("docker_version");
        next.extra.insert(
            "container_config".into(),
            serde_json::to_value(&step_cfg).unwrap_or(Value::Null),
        );
        match container {
            Some(c) => next.extra.insert("container".into(), json!(c)),
            None => next.extra.remove("container"),
        };
        match self.maintainer.as_str() {
            "" => next.extra.remove("author"),
            m => next.extra.insert("author".into(), json!(m)),
        };
        next
    }

    /// Commits the next image: the current settings, one more history entry (`created_by`
    /// from `step`'s command) and `layer` when the step changed files.
    pub fn commit(
        &mut self,
        sh: &Shared<'_>,
        step: &RunConfig,
        layer: Option<String>,
        container: Option<&str>,
    ) -> Result<()> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut next = self.next_image(step, container, &now);
        let created_by = step.cmd.clone().unwrap_or_default().join(" ");
        let mut entry = json!({"created": now, "created_by": created_by});
        if !self.maintainer.is_empty() {
            entry["author"] = json!(self.maintainer);
        }
        match layer {
            Some(diff_id) => next.rootfs.diff_ids.push(diff_id),
            None => entry["empty_layer"] = json!(true),
        }
        next.history.push(entry);
        if next.rootfs.kind.is_empty() {
            next.rootfs.kind = "layers".into();
        }
        let id = sh.backend.commit(&self.image_id, &next, &cache_key(step))?;
        self.image_id = id;
        self.image = next;
        Ok(())
    }

    /// A metadata step: probe, else commit with an empty layer.
    async fn metadata(&mut self, sh: &Shared<'_>, comment: &str) -> Result<()> {
        let step = self.nop(comment, false);
        if self.probe(sh, &step)? {
            return Ok(());
        }
        self.commit(sh, &step, None, None)
    }
}

/// The cache key of a step: its container config (command included), as dockerd compares it.
pub fn cache_key(step: &RunConfig) -> String {
    let bytes = serde_json::to_vec(step).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// Runs one instruction of a stage.
pub async fn dispatch(sh: &Shared<'_>, st: &mut StageState, cmd: &Command) -> Result<()> {
    match &cmd.instruction {
        Instruction::Env(pairs) => {
            let pairs = expand_pairs(st, pairs)?;
            for kv in &pairs {
                config::set_env(&mut st.config.env, &kv.key, &kv.value);
            }
            st.metadata(sh, &format!("ENV {}", join_pairs(&pairs)))
                .await
        }
        Instruction::Label(pairs) => {
            let pairs = expand_pairs(st, pairs)?;
            label(sh, st, &pairs).await
        }
        Instruction::Maintainer(m) => {
            st.maintainer = m.clone();
            st.metadata(sh, &format!("MAINTAINER {m}")).await
        }
        Instruction::Arg(decls) => {
            let mut parts = Vec::new();
            for d in decls {
                let name = st.expand(&d.name)?;
                let default = d.default.as_deref().map(|v| st.expand(v)).transpose()?;
                parts.push(match &default {
                    Some(v) => format!("{name}={v}"),
                    None => name.clone(),
                });
                st.args.add(&name, default);
            }
            st.metadata(sh, &format!("ARG {}", parts.join(" "))).await
        }
        Instruction::Run(line, flags) => super::copy_step::run(sh, st, line, flags).await,
        Instruction::Cmd(line) => {
            let cmd = st.command_line(line);
            st.config.cmd = Some(cmd.clone());
            config::set_args_escaped(&mut st.config, false);
            st.metadata(sh, &format!("CMD {}", quote_list(&cmd)))
                .await?;
            if !line.args.is_empty() {
                st.cmd_set = true;
            }
            Ok(())
        }
        Instruction::Entrypoint(line) => {
            let ep = st.command_line(line);
            st.config.entrypoint = (!ep.is_empty()).then(|| ep.clone());
            config::set_args_escaped(&mut st.config, false);
            if !st.cmd_set {
                st.config.cmd = None;
            }
            st.metadata(sh, &format!("ENTRYPOINT {}", quote_list(&ep)))
                .await
        }
        Instruction::Shell(shell) => {
            config::set_shell(&mut st.config, shell.clone());
            st.metadata(sh, &format!("SHELL {}", plain_list(shell)))
                .await
        }
        Instruction::Workdir(dir) => super::copy_step::workdir(sh, st, dir).await,
        Instruction::User(user) => {
            st.config.user = st.expand(user)?;
            let comment = format!("USER {}", st.config.user);
            st.metadata(sh, &comment).await
        }
        Instruction::Volume(vols) => {
            let vols: Vec<String> = vols.iter().map(|v| st.expand(v)).collect::<Result<_>>()?;
            for v in &vols {
                if v.is_empty() {
                    return Err(EngineError::InvalidArgument(
                        "VOLUME specified can not be an empty string".into(),
                    ));
                }
                st.config.volumes.insert(v.clone(), json!({}));
            }
            st.metadata(sh, &format!("VOLUME {}", plain_list(&vols)))
                .await
        }
        Instruction::Expose(ports) => expose(sh, st, ports).await,
        Instruction::StopSignal(sig) => {
            let sig = st.expand(sig)?;
            crate::engine::container::signal::parse_signal(&sig)?;
            st.config.stop_signal = Some(sig.clone());
            st.metadata(sh, &format!("STOPSIGNAL {sig}")).await
        }
        Instruction::Healthcheck(h) => {
            let previous = config::healthcheck(&st.config);
            if let Some(old) = previous
                .as_ref()
                .filter(|o| o.test.first().is_some_and(|t| t != "NONE"))
            {
                sh.out.stream(format!(
                    "Note: overriding previous HEALTHCHECK: {}\n",
                    plain_list(&old.test)
                ));
            }
            let comment = format!(
                "HEALTHCHECK &{{{} {} {} {} {}}}",
                quote_list(&h.test),
                quote(&berth_gotime::format_duration(h.interval)),
                quote(&berth_gotime::format_duration(h.timeout)),
                quote(&berth_gotime::format_duration(h.start_period)),
                quote_rune(h.retries)
            );
            let mut h = h.clone();
            config::inherit_healthcheck_fields(
                &mut h,
                config::healthcheck(&st.image.config).as_ref(),
            );
            config::set_healthcheck(&mut st.config, &h);
            st.metadata(sh, &comment).await
        }
        Instruction::Onbuild(expr) => {
            let mut triggers = config::on_build(&st.config);
            triggers.push(expr.clone());
            config::set_on_build(&mut st.config, triggers);
            st.metadata(sh, &format!("ONBUILD {expr}")).await
        }
        Instruction::Copy(c) => super::copy_step::copy(sh, st, c, false).await,
        Instruction::Add(c) => super::copy_step::copy(sh, st, c, true).await,
    }
}

fn expand_pairs(st: &StageState, pairs: &[KeyValue]) -> Result<Vec<KeyValue>> {
    pairs
        .iter()
        .map(|kv| {
            Ok(KeyValue {
                key: st.expand(&kv.key)?,
                value: st.expand(&kv.value)?,
            })
        })
        .collect()
}

fn join_pairs(pairs: &[KeyValue]) -> String {
    pairs
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect::<Vec<_>>()
        .join(" ")
}

/// LABEL (also the build's `--label`s, which are not expanded).
pub async fn label(sh: &Shared<'_>, st: &mut StageState, pairs: &[KeyValue]) -> Result<()> {
    for kv in pairs {
        st.config.labels.insert(kv.key.clone(), kv.value.clone());
    }
    st.metadata(sh, &format!("LABEL {}", join_pairs(pairs)))
        .await
}

async fn expose(sh: &Shared<'_>, st: &mut StageState, ports: &[String]) -> Result<()> {
    let vars = st.vars();
    let mut words = Vec::new();
    for p in ports {
        words.extend(
            st.lex
                .process_words(p, &vars)
                .map_err(|e| EngineError::InvalidArgument(e.to_string()))?,
        );
    }
    for w in &words {
        for port in expand_port_spec(w)? {
            st.config.exposed_ports.insert(port, json!({}));
        }
    }
    st.metadata(sh, &format!("EXPOSE {}", words.join(" ")))
        .await
}

/// `[ip:[hostPort]:]containerPort[-end][/proto]` → the container ports it exposes.
pub fn expand_port_spec(spec: &str) -> Result<Vec<String>> {
    let bad = |m: String| EngineError::InvalidArgument(m);
    let container = spec.rsplit(':').next().unwrap_or(spec);
    let (range, proto) = container.split_once('/').unwrap_or((container, "tcp"));
    let proto = if proto.is_empty() {
        "tcp".to_string()
    } else {
        proto.to_ascii_lowercase()
    };
    if range.is_empty() {
        return Err(bad(format!("no port specified: {spec}<empty>")));
    }
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(format!("invalid proto: {proto}")));
    }
    let num = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| bad(format!("invalid containerPort: {range}")))
    };
    let (start, end) = match range.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(range)?, num(range)?),
    };
    if end < start {
        return Err(bad(format!("invalid containerPort: {range}")));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// The ids of stages and the stage a `--from` or FROM names: an earlier stage by name or
/// index, else an image.
pub fn stage_image(sh: &Shared<'_>, st_index: usize, name: &str) -> Result<Option<String>> {
    let lower = name.to_ascii_lowercase();
    if let Some((_, _, id)) = sh
        .stages
        .iter()
        .find(|(_, n, _)| n.as_deref() == Some(lower.as_str()))
    {
        return Ok(Some(id.clone()));
    }
    let Ok(i) = name.parse::<usize>() else {
        return Ok(None);
    };
    if i == st_index {
        return Err(EngineError::InvalidArgument(
            "refers to current build stage".into(),
        ));
    }
    match sh.stages.iter().find(|(idx, _, _)| *idx == i) {
        Some((_, _, id)) if i < st_index => Ok(Some(id.clone())),
        _ => Err(EngineError::InvalidArgument("index out of bounds".into())),
    }
}

/// Short form of the current image, as ` ---> ` lines print it.
pub fn current(st: &StageState) -> String {
    short_id(&st.image_id).to_string()
}
