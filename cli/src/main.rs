//! berth: the command-line client of berthd, speaking the Docker Engine API through bollard.
//! This file owns the command tree, host selection and exit codes; it must not talk HTTP itself.
#![allow(clippy::print_stdout, reason = "a CLI prints")]

mod client;
mod commands;
mod compose;
mod connect;
mod context_store;
mod credentials;
mod output;
mod parse;
mod stream;
mod tls;

use std::io::Write;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use client::Client;
use commands::container::{AttachArgs, KillArgs, LogsArgs, RmArgs, StartArgs, StopArgs, WaitArgs};
use commands::cp::CpArgs;
use commands::events::EventsArgs;
use commands::exec::ExecArgs;
use commands::image::{ImagesArgs, ImportArgs, LoadArgs, RmiArgs, SaveArgs, TagArgs};
use commands::inspect::InspectArgs;
use commands::manage::{ContainersArgs, DiffArgs, ExportArgs, RenameArgs, TopArgs, UpdateArgs};
use commands::prune::{DfArgs, PruneArgs};
use commands::ps::PsArgs;
use commands::registry::{LoginArgs, LogoutArgs, PullArgs, PushArgs};
use commands::run::{CreateArgs, RunArgs};
use commands::stats::StatsArgs;
use commands::system::FormatArgs;

/// A Docker-compatible client for berthd.
#[derive(Debug, Parser)]
#[command(name = "berth", disable_version_flag = true)]
struct Cli {
    /// Name of the context to use to connect to the daemon (overrides BERTH_HOST and
    /// DOCKER_HOST env var and default context set with "berth context use")
    #[arg(short = 'c', long, value_name = "string")]
    context: Option<String>,
    /// Daemon socket to connect to (unix://PATH or tcp://HOST:PORT)
    #[arg(short = 'H', long, value_name = "host")]
    host: Option<String>,
    /// Print version information and quit
    #[arg(short = 'v', long)]
    version: bool,
    #[command(flatten)]
    tls: tls::TlsFlags,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Remove all stopped containers (`berth container prune`)
    #[command(
        name = "container-prune",
        hide = true,
        override_usage = "berth container prune [OPTIONS]"
    )]
    ContainerPrune(PruneArgs),
    /// Remove unused images (`berth image prune`)
    #[command(
        name = "image-prune",
        hide = true,
        override_usage = "berth image prune [OPTIONS]"
    )]
    ImagePrune(PruneArgs),
    /// Show docker disk usage (`berth system df`)
    #[command(
        name = "system-df",
        hide = true,
        override_usage = "berth system df [OPTIONS]"
    )]
    SystemDf(DfArgs),
    /// Remove unused data (`berth system prune`)
    #[command(
        name = "system-prune",
        hide = true,
        override_usage = "berth system prune [OPTIONS]"
    )]
    SystemPrune(commands::system_prune::SystemPruneArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Return low-level information on containers or images
    Inspect(InspectArgs),
    /// List images
    Images(ImagesArgs),
    /// Show the history of an image
    History(commands::history::HistoryArgs),
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
    /// Create a new image from a container's changes
    Commit(commands::commit::CommitArgs),
    /// Remove build cache (`berth builder prune`)
    #[command(
        name = "builder-prune",
        hide = true,
        override_usage = "berth builder prune [OPTIONS]"
    )]
    BuilderPrune(commands::commit::BuilderPruneArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Search Docker Hub for images
    Search(commands::search::SearchArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Show the berth version information
    Version(FormatArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Manage Swarm
    #[command(subcommand, arg_required_else_help = true)]
    Swarm(commands::swarm::SwarmCommand),
    /// Manage Swarm nodes
    #[command(subcommand, arg_required_else_help = true)]
    Node(commands::node::NodeCommand),
    /// Manage Swarm services
    #[command(subcommand, arg_required_else_help = true)]
    Service(commands::service::ServiceCommand),
    /// Manage Swarm stacks
    #[command(subcommand, arg_required_else_help = true)]
    Stack(commands::stack::StackCommand),
    /// Manage networks
    #[command(subcommand, arg_required_else_help = true)]
    Network(commands::network::NetworkCommand),
    /// Manage Swarm secrets
    #[command(subcommand, arg_required_else_help = true)]
    Secret(commands::secret::SecretCommand),
    /// Manage Swarm configs
    #[command(subcommand, arg_required_else_help = true)]
    Config(commands::secret::ConfigCommand),
    /// Manage volumes
    #[command(subcommand, arg_required_else_help = true)]
    Volume(commands::volume::VolumeCommand),
    /// List port mappings or a specific mapping for the container
    Port(commands::port::PortArgs),
    /// Manage contexts
    #[command(subcommand, arg_required_else_help = true)]
    Context(commands::context::ContextCommand),
    /// Make certificates for the daemon's remote API
    #[command(subcommand, arg_required_else_help = true)]
    Tls(commands::tls::TlsCommand),
}

fn main() {
    // Like other command-line tools (and the docker CLI), end quietly when the reader of our
    // output goes away (`berth ps | head`) instead of panicking on a broken pipe.
    // SAFETY: setting a signal's disposition to the default before any other thread exists.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    let argv = rewrite_management_command(std::env::args().collect());
    let code = match Cli::try_parse_from(argv) {
        Ok(cli) => start(cli),
        Err(e) => usage_error(&e),
    };
    let _ = std::io::stdout().flush();
    // Exit at once: a blocking stdin read may still be parked on a runtime thread.
    std::process::exit(code);
}

fn usage_error(e: &clap::Error) -> i32 {
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        ErrorKind::InvalidSubcommand => 1,
        // Docker exits 125 on flag errors.
        _ => 125,
    }
}

fn start(cli: Cli) -> i32 {
    if cli.version {
        println!("berth version {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let Some(command) = cli.command else {
        let _ = Cli::command().print_help();
        return 0;
    };
    if let Command::Tls(c) = command {
        // Local work: no daemon, so neither host nor TLS settings matter.
        return commands::tls::run(c).unwrap_or_else(|e| {
            eprintln!("{e:#}");
            1
        });
    }
    let globals = connect::Globals {
        host: cli.host,
        context: cli.context,
        tls: cli.tls,
    };
    let env = |k: &str| std::env::var(k).ok();
    if let Command::Context(c) = command {
        // Files only: the context store needs no daemon.
        return commands::context::run(&globals, &env, c);
    }
    let client = match connect::client(&globals, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return 1;
        }
    };
    let code = runtime.block_on(dispatch(&client, command));
    // Dropping the runtime would wait for a stdin read parked on a blocking thread (a terminal
    // never sends end of input), so leave it behind.
    runtime.shutdown_background();
    code
}

async fn dispatch(client: &Client, command: Command) -> i32 {
    use commands::{
        container, cp, events, exec, image, inspect, manage, prune, ps, registry, run, stats,
        system,
    };
    let result = match command {
        Command::Run(a) => return run::run(client, a).await,
        Command::Create(a) => return run::create(client, a).await,
        Command::Start(a) => container::start(client, a).await,
        Command::Stop(a) => container::stop(client, a).await,
        Command::Restart(a) => container::restart(client, a).await,
        Command::Kill(a) => container::kill(client, a).await,
        Command::Rm(a) => container::rm(client, a).await,
        Command::Ps(a) => ps::ps(client, a).await,
        Command::Logs(a) => container::logs(client, a).await,
        Command::Attach(a) => container::attach(client, a).await,
        Command::Cp(a) => cp::cp(client, a).await,
        Command::Exec(a) => exec::exec(client, a).await,
        Command::Stats(a) => stats::stats(client, a).await,
        Command::Events(a) => events::events(client, a).await,
        Command::Top(a) => manage::top(client, a).await,
        Command::Pause(a) => manage::pause(client, a).await,
        Command::Unpause(a) => manage::unpause(client, a).await,
        Command::Rename(a) => manage::rename(client, a).await,
        Command::Update(a) => manage::update(client, a).await,
        Command::Export(a) => manage::export(client, a).await,
        Command::Diff(a) => manage::diff(client, a).await,
        Command::ContainerPrune(a) => prune::prune_containers(client, a).await,
        Command::ImagePrune(a) => prune::prune_images(client, a).await,
        Command::SystemDf(a) => prune::df(client, a).await,
        Command::SystemPrune(a) => commands::system_prune::system_prune(client, a).await,
        Command::Wait(a) => container::wait(client, a).await,
        Command::Inspect(a) => inspect::inspect(client, a).await,
        Command::Images(a) => image::images(client, a).await,
        Command::History(a) => commands::history::history(client, a).await,
        Command::Build(a) => commands::build::build(client, a).await,
        Command::Commit(a) => commands::commit::commit(client, a).await,
        Command::BuilderPrune(a) => commands::commit::builder_prune(client, a).await,
        Command::Import(a) => image::import(client, a).await,
        Command::Load(a) => image::load(client, a).await,
        Command::Save(a) => image::save(client, a).await,
        Command::Tag(a) => image::tag(client, a).await,
        Command::Rmi(a) => image::rmi(client, a).await,
        Command::Pull(a) => registry::pull(client, a).await,
        Command::Push(a) => registry::push(client, a).await,
        Command::Search(a) => commands::search::search(client, a).await,
        Command::Login(a) => registry::login(client, a).await,
        Command::Logout(a) => registry::logout(client, a).await,
        Command::Version(a) => system::version(client, a).await,
        Command::Info(a) => system::info(client, a).await,
        Command::Swarm(c) => commands::swarm::run(client, c).await,
        Command::Node(c) => commands::node::run(client, c).await,
        Command::Service(c) => commands::service::run(client, c).await,
        Command::Stack(c) => commands::stack::run(client, c).await,
        Command::Network(c) => commands::network::run(client, c).await,
        Command::Secret(c) => commands::secret::run_secret(client, c).await,
        Command::Config(c) => commands::secret::run_config(client, c).await,
        Command::Volume(c) => commands::volume::run(client, c).await,
        Command::Port(a) => commands::port::port(client, a).await,
        Command::Tls(c) => commands::tls::run(c),
        Command::Context(_) => Ok(0),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", client.explain(&e).await);
            1
        }
    }
}

/// Maps docker's management commands (`container ls`, `image rm`, …) onto the short forms.
fn rewrite_management_command(mut argv: Vec<String>) -> Vec<String> {
    let mut i = 1;
    while i < argv.len() {
        match argv[i].as_str() {
            "-H" | "--host" | "-c" | "--context" | "--tlscacert" | "--tlscert" | "--tlskey" => {
                i += 2
            }
            a if a.starts_with('-') => i += 1,
            _ => break,
        }
    }
    let (Some(noun), Some(verb)) = (argv.get(i), argv.get(i + 1)) else {
        return argv;
    };
    let replacement: &[&str] = match (noun.as_str(), verb.as_str()) {
        ("container", "ls" | "list" | "ps") => &["ps"],
        ("container", "remove" | "rm") => &["rm"],
        ("container", "inspect") => &["inspect", "--type", "container"],
        ("image", "ls" | "list") => &["images"],
        ("image", "remove" | "rm") => &["rmi"],
        ("image", "inspect") => &["inspect", "--type", "image"],
        ("container", "prune") => &["container-prune"],
        ("image", "prune") => &["image-prune"],
        ("image", "history") => &["history"],
        ("system", "df") => &["system-df"],
        ("system", "prune") => &["system-prune"],
        ("builder", "prune") => &["builder-prune"],
        ("builder", "build") | ("image", "build") => &["build"],
        ("container", "commit") => &["commit"],
        ("container", v) | ("image", v) | ("system", v) => &[v][..],
        _ => return argv,
    };
    let replacement: Vec<String> = replacement.iter().map(|s| (*s).to_string()).collect();
    argv.splice(i..i + 2, replacement);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn management_commands_map_to_short_forms() {
        assert_eq!(
            rewrite_management_command(argv("berth image ls -q")),
            argv("berth images -q")
        );
        assert_eq!(
            rewrite_management_command(argv("berth -H tcp://x:1 container ls")),
            argv("berth -H tcp://x:1 ps")
        );
        assert_eq!(
            rewrite_management_command(argv("berth image inspect b")),
            argv("berth inspect --type image b")
        );
        assert_eq!(
            rewrite_management_command(argv("berth image prune -af")),
            argv("berth image-prune -af")
        );
        assert_eq!(
            rewrite_management_command(argv("berth system df -v")),
            argv("berth system-df -v")
        );
        assert_eq!(
            rewrite_management_command(argv("berth run image ls")),
            argv("berth run image ls")
        );
        assert_eq!(
            rewrite_management_command(argv("berth --tlsverify --tlscacert /c image ls")),
            argv("berth --tlsverify --tlscacert /c images")
        );
    }

    #[test]
    fn run_keeps_command_flags_after_the_image() {
        let cli =
            Cli::try_parse_from(argv("berth run --rm -e A=1 -h box busybox sh -c ls -la")).unwrap();
        let Some(Command::Run(run)) = cli.command else {
            panic!("not run")
        };
        assert!(run.opts.rm);
        assert_eq!(run.opts.hostname.as_deref(), Some("box"));
        assert_eq!(run.opts.args, argv("busybox sh -c ls -la"));
        let cli = Cli::try_parse_from(argv("berth run -d --memory 32m busybox --rm")).unwrap();
        let Some(Command::Run(run)) = cli.command else {
            panic!("not run")
        };
        assert!(run.detach && !run.opts.rm);
        assert_eq!(run.opts.memory, Some(33_554_432));
        assert!(Cli::try_parse_from(argv("berth run -m 3x busybox")).is_err());
    }

    #[test]
    fn swarm_commands_parse_with_docker_flags() {
        let cli = Cli::try_parse_from(argv(
            "berth service create --name web --replicas 3 -p 8080:80 -e A=1 -d busybox sleep -d 60",
        ))
        .unwrap();
        let Some(Command::Service(commands::service::ServiceCommand::Create(create))) = cli.command
        else {
            panic!("not service create")
        };
        assert_eq!(create.args, argv("busybox sleep -d 60"));
        assert_eq!(create.common.replicas, Some(3));
        assert!(create.common.detach);
        assert!(Cli::try_parse_from(argv("berth service update --init web")).is_ok());
        assert!(Cli::try_parse_from(argv("berth service update --read-only=false web")).is_ok());
        assert!(Cli::try_parse_from(argv("berth service scale web=3 api=1")).is_ok());
        let err = Cli::try_parse_from(argv("berth service scale web")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(Cli::try_parse_from(argv("berth service create --mount foo busybox")).is_err());
        assert!(Cli::try_parse_from(argv("berth node ls -q")).is_ok());
        assert!(Cli::try_parse_from(argv("berth node list")).is_ok());
        assert!(Cli::try_parse_from(argv("berth swarm init --advertise-addr 127.0.0.1")).is_ok());
        assert!(Cli::try_parse_from(argv("berth swarm join --token T 10.0.0.1:2377")).is_ok());
        assert!(
            Cli::try_parse_from(argv("berth tls init --host a --host 10.0.0.1 --days 9")).is_ok()
        );
        assert!(Cli::try_parse_from(argv("berth --tlsverify --tlscacert ca.pem ps")).is_ok());
        assert!(Cli::try_parse_from(argv("berth --tls --tlsverify=false ps")).is_ok());
        let help = Cli::try_parse_from(argv("berth swarm update")).unwrap_err();
        assert_eq!(
            help.kind(),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
    }

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
