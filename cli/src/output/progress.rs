//! Docker's JSON progress messages shown as indicatif bars: one per layer plus an overall line
//! on a terminal, docker's plain `id: status` lines elsewhere. No daemon calls here.

use std::collections::HashMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::units::bytes_size;

/// Statuses after which a layer has nothing more to say.
const DONE: &[&str] = &[
    "Pull complete",
    "Already exists",
    "Pushed",
    "Layer already exists",
];

/// One message of the stream, as far as display goes.
#[derive(Debug, Default)]
pub struct Message<'a> {
    /// Layer id (or tag for `Pulling from`).
    pub id: Option<&'a str>,
    /// The status text.
    pub status: Option<&'a str>,
    /// Bytes done and in all, for `Downloading`/`Extracting`/`Pushing`.
    pub progress: Option<(u64, u64)>,
}

/// Renders a progress stream.
pub struct ProgressView {
    multi: Option<MultiProgress>,
    bars: HashMap<String, ProgressBar>,
    /// Per layer (done, total) of the current byte phase, for the overall line.
    bytes: HashMap<String, (u64, u64)>,
    overall: Option<ProgressBar>,
    layers_done: usize,
}

impl ProgressView {
    /// Bars when stderr is a terminal (stdout stays for results), plain lines otherwise.
    pub fn new(quiet: bool) -> Self {
        let tty = !quiet && std::io::stderr().is_terminal();
        let multi = tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let overall = multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {prefix}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        ProgressView {
            multi,
            bars: HashMap::new(),
            bytes: HashMap::new(),
            overall,
            layers_done: 0,
        }
    }

    /// Shows one message; `quiet` views show nothing.
    pub fn show(&mut self, m: &Message<'_>, quiet: bool) {
        if quiet {
            return;
        }
        let status = m.status.unwrap_or_default();
        let Some(multi) = self.multi.clone() else {
            // Docker prints no byte counts when not on a terminal.
            if m.progress.is_none() {
                match m.id {
                    Some(id) => eprintln!("{id}: {status}"),
                    None => eprintln!("{status}"),
                }
            }
            return;
        };
        let Some(id) =
            m.id.filter(|_| m.progress.is_some() || !status.starts_with("Pulling from"))
        else {
            let _ = multi.println(status);
            return;
        };
        let bar = self.bars.entry(id.to_string()).or_insert_with(|| {
            let bar = multi.insert_from_back(1, ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix}: {msg:<18} [{bar:30}] {bytes}/{total_bytes}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(id.to_string());
            bar
        });
        bar.set_message(status.to_string());
        if let Some((current, total)) = m.progress {
            bar.set_length(total);
            bar.set_position(current);
            self.bytes.insert(id.to_string(), (current, total));
        }
        if DONE.contains(&status) || status.starts_with("Mounted from") {
            bar.set_style(
                ProgressStyle::with_template("{prefix}: {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.finish();
            self.layers_done += 1;
        }
        self.update_overall();
    }

    fn update_overall(&self) {
        let Some(bar) = &self.overall else { return };
        let (done, total) = self
            .bytes
            .values()
            .fold((0, 0), |(d, t), (c, n)| (d + c, t + n));
        bar.set_length(total.max(1));
        bar.set_position(done);
        bar.set_message(format!("{}/{} layers", self.layers_done, self.bars.len()));
        bar.set_prefix(format!(
            "{}/{}",
            bytes_size(done as f64),
            bytes_size(total as f64)
        ));
    }

    /// Ends the display (the overall line goes away).
    pub fn finish(&self) {
        if let Some(bar) = &self.overall {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_or_plain_view_never_panics_on_odd_messages() {
        let mut v = ProgressView::new(true);
        v.show(&Message::default(), true);
        v.show(
            &Message {
                id: Some("abc"),
                status: Some("Downloading"),
                progress: Some((5, 10)),
            },
            false,
        );
        v.finish();
    }
}
