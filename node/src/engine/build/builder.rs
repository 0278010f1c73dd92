//! A whole build: the Dockerfile parsed, the stages the target needs chosen, the global ARGs
//! applied, each stage started from its base (ONBUILD triggers first) and its instructions
//! dispatched, with the classic builder's `Step N/M :` progress, then the result tagged.

use std::collections::BTreeSet;

use super::args::BuildArgs;
use super::config;
use super::dispatch::{current, dispatch, label, stage_image, Shared, StageState};
use super::dockerfile::shell::{Lex, Vars};
use super::dockerfile::{self, Dockerfile, Instruction, KeyValue};
use super::output::short_id;
use super::sources::SourceTree;
use super::{BaseImage, BuildBackend, BuildOptions, BuildOutput};
use crate::engine::image::{ImageConfigFile, RootFs};
use crate::error::{EngineError, Result};

/// Builds `dockerfile` with the files of `context`; returns the image id.
pub async fn build(
    backend: &dyn BuildBackend,
    context: &dyn SourceTree,
    dockerfile: &str,
    opts: &BuildOptions,
    out: &BuildOutput,
) -> Result<String> {
    let df =
        dockerfile::parse(dockerfile).map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
    let lex = Lex::new(df.escape);
    let mut global = BuildArgs::new(opts.build_args.clone());
    let mut meta_lines = Vec::new();
    for cmd in &df.meta_args {
        let Instruction::Arg(decls) = &cmd.instruction else {
            continue;
        };
        let vars = Vars::from_env(&pairs(&global.allowed()));
        for d in decls {
            let expand = |w: &str| {
                lex.process_word(w, &vars)
                    .map_err(|e| EngineError::InvalidArgument(e.to_string()))
            };
            let name = expand(&d.name)?;
            let default = d.default.as_deref().map(expand).transpose()?;
            global.add(&name, default.clone());
            global.add_meta(&name, default);
        }
        meta_lines.push(cmd.source.clone());
    }
    let plan = plan(&df, opts, &lex, &global)?;
    let labels = label_pairs(opts);
    let total = meta_lines.len()
        + plan
            .iter()
            .map(|&i| 1 + df.stages[i].commands.len())
            .sum::<usize>()
        + usize::from(!labels.is_empty()) * labels.len();
    for w in &df.warnings {
        out.stream(format!("[WARNING]: {w}\n"));
    }
    let mut step = 0;
    let mut print = |source: &str| {
        step += 1;
        out.stream(format!("Step {step}/{total} : {source}"));
        out.stream("\n");
    };
    for line in &meta_lines {
        print(line);
    }
    let mut sh = Shared {
        backend,
        out,
        opts,
        context,
        dockerfile: &df,
        stages: Vec::new(),
        no_commit: false,
        cache_from: std::sync::Mutex::new(cache_sources(backend, out, &opts.cache_from)),
    };
    let mut image_id = String::new();
    let last = plan.last().copied();
    for &i in &plan {
        let stage = &df.stages[i];
        print(&stage.source);
        let mut st = start_stage(&sh, &global, &lex, i).await?;
        let base_config = st.config.clone();
        run_triggers(&sh, &mut st, &base_config).await?;
        out.stream(format!(" ---> {}\n", current(&st)));
        for cmd in &stage.commands {
            print(&cmd.source);
            dispatch(&sh, &mut st, cmd).await?;
            out.stream(format!(" ---> {}\n", current(&st)));
        }
        if Some(i) == last {
            for kv in &labels {
                print(&format!("LABEL {}={}", kv.key, kv.value));
                label(&sh, &mut st, std::slice::from_ref(kv)).await?;
                out.stream(format!(" ---> {}\n", current(&st)));
            }
        }
        if !st.image_id.is_empty() {
            out.aux(&st.image_id);
        }
        global.merge_referenced(&st.args);
        image_id = st.image_id.clone();
        sh.stages.push((i, st.name.clone(), st.image_id));
    }
    if image_id.is_empty() {
        return Err(EngineError::InvalidArgument(
            "No image was generated. Is your Dockerfile empty?".into(),
        ));
    }
    let unused = global.unused();
    if !unused.is_empty() {
        out.stream(format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            unused.join(" ")
        ));
    }
    out.stream(format!("Successfully built {}\n", short_id(&image_id)));
    if !opts.tags.is_empty() {
        backend.tag(&image_id, &opts.tags)?;
        for t in &opts.tags {
            out.stream(format!("Successfully tagged {t}\n"));
        }
    }
    Ok(image_id)
}

fn pairs(m: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    m.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn label_pairs(opts: &BuildOptions) -> Vec<KeyValue> {
    opts.labels
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

/// The stages to run, in order: the target (the last stage by default) and the stages it
/// needs through FROM and COPY --from, found from the target backwards.
pub fn plan(
    df: &Dockerfile,
    opts: &BuildOptions,
    lex: &Lex,
    global: &BuildArgs,
) -> Result<Vec<usize>> {
    if df.stages.is_empty() {
        return Err(EngineError::InvalidArgument(
            "dockerfile contains no stages to build".into(),
        ));
    }
    let target = match opts.target.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => df
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(t.to_ascii_lowercase().as_str()))
            .ok_or_else(|| {
                // The classic builder's words (BuildKit's are "target stage … could not be found").
                EngineError::InvalidArgument(format!(
                    "failed to reach build target {t} in Dockerfile"
                ))
            })?,
        None => df.stages.len() - 1,
    };
    let vars = Vars::from_env(&pairs(&global.meta_values()));
    let by_name = |name: &str, before: usize| {
        let lower = name.to_ascii_lowercase();
        df.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
    };
    let mut needed = BTreeSet::from([target]);
    for i in (0..=target).rev() {
        if !needed.contains(&i) {
            continue;
        }
        let stage = &df.stages[i];
        let base = lex
            .process_word(&stage.base, &vars)
            .unwrap_or_else(|_| stage.base.clone());
        needed.extend(by_name(&base, i));
        for cmd in &stage.commands {
            let from = match &cmd.instruction {
                Instruction::Copy(c) => c.from.as_deref(),
                _ => None,
            };
            if let Some(from) = from {
                needed.extend(
                    by_name(from, i).or_else(|| from.parse::<usize>().ok().filter(|&j| j < i)),
                );
            }
        }
    }
    Ok(needed.into_iter().collect())
}

/// FROM: the base image (an earlier stage, `scratch`, or an image pulled when missing or
/// asked) and the stage's starting settings.
async fn start_stage(
    sh: &Shared<'_>,
    global: &BuildArgs,
    lex: &Lex,
    index: usize,
) -> Result<StageState> {
    let vars = Vars::from_env(&pairs(&global.meta_values()));
    let expand = |w: &str| {
        lex.process_word(w, &vars)
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))
    };
    // The Dockerfile is parsed again by the caller; the stage comes from the same parse.
    let df_stage = sh_stage(sh, index);
    let platform = match df_stage.platform.as_deref() {
        Some(p) => Some(expand(p).map_err(|e| {
            EngineError::InvalidArgument(format!(
                "failed to process arguments for platform {p}: {e}"
            ))
        })?),
        None => sh.opts.platform.clone(),
    };
    let name = expand(&df_stage.base)?;
    if name.is_empty() {
        return Err(EngineError::InvalidArgument(format!(
            "base name ({}) should not be blank",
            df_stage.base
        )));
    }
    let base = if let Some(id) = stage_image(sh, index, &name)
        .ok()
        .flatten()
        .filter(|_| name.parse::<usize>().is_err())
    {
        sh.backend.image(&id)?
    } else if name == "scratch" {
        scratch()
    } else {
        sh.backend
            .base_image(&name, sh.opts.pull, platform.as_deref(), sh.out)
            .await?
    };
    let mut cfg = base.config.config.clone();
    config::set_default_path(&mut cfg);
    Ok(StageState {
        index,
        name: df_stage.name.clone(),
        image_id: base.id,
        image: base.config,
        config: cfg,
        args: global.for_stage(),
        cmd_set: false,
        maintainer: String::new(),
        lex: *lex,
    })
}

fn sh_stage<'a>(sh: &Shared<'a>, index: usize) -> &'a dockerfile::Stage {
    &sh.dockerfile.stages[index]
}

/// The empty image `FROM scratch` starts from.
fn scratch() -> BaseImage {
    BaseImage {
        id: String::new(),
        config: ImageConfigFile {
            architecture: crate::engine::image::go_arch().to_string(),
            os: "linux".into(),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: Vec::new(),
            },
            ..Default::default()
        },
    }
}

/// The base image's ONBUILD triggers run first, each as if written here.
async fn run_triggers(
    sh: &Shared<'_>,
    st: &mut StageState,
    base: &crate::engine::image::RunConfig,
) -> Result<()> {
    let triggers = config::on_build(base);
    if triggers.is_empty() {
        return Ok(());
    }
    let plural = if triggers.len() > 1 { "s" } else { "" };
    sh.out.stream(format!(
        "# Executing {} build trigger{plural}\n",
        triggers.len()
    ));
    config::set_on_build(&mut st.config, Vec::new());
    for t in triggers {
        let cmd = dockerfile::parse_command(&t, '\\')
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        dispatch(sh, st, &cmd).await?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "builder_tests.rs"]
mod tests;

/// `--cache-from`'s images; one not found is skipped (as moby does) with a warning.
fn cache_sources(
    backend: &dyn BuildBackend,
    out: &BuildOutput,
    refs: &[String],
) -> Vec<super::cache_from::CacheSource> {
    refs.iter()
        .filter_map(|r| match backend.image(r) {
            Ok(img) => Some(super::cache_from::CacheSource {
                id: img.id,
                config: img.config,
            }),
            Err(e) => {
                out.stream(format!("[WARNING]: cache source {r} skipped: {e}\n"));
                None
            }
        })
        .collect()
}
