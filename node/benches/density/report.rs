//! The density report: one line per operation with p50 / p99 at each level (the curve), the
//! start rates and memory, the targets checked against the largest level, and
//! berth's p99 over docker's at each level when both ran.

use crate::common::pct;
use crate::measure::{sorted, Level};
use crate::target::Target;

const MIB: f64 = 1024.0;

/// The curve of one engine.
pub fn print(target: &Target, levels: &[Level]) {
    if levels.is_empty() {
        println!("{}: no level measured", target.name);
        return;
    }
    let head: Vec<String> = levels
        .iter()
        .map(|l| format!("{:>22}", format!("{} running", l.running)))
        .collect();
    println!(
        "\n{}: p50 / p99 in ms at each level{}",
        target.name,
        head.concat()
    );
    for (i, (op, first)) in levels[0].ops.iter().enumerate() {
        let cells: Vec<String> = levels
            .iter()
            .map(|l| {
                let v = sorted(l.ops[i].1.clone());
                format!("{:>22}", format!("{:.2} / {:.2}", pct(&v, 50), pct(&v, 99)))
            })
            .collect();
        println!("  {op:<32}{}   n={}", cells.concat(), first.len());
    }
    let row = |what: &str, f: &dyn Fn(&Level) -> String| {
        let cells: Vec<String> = levels.iter().map(|l| format!("{:>22}", f(l))).collect();
        println!("  {what:<32}{}", cells.concat());
    };
    row("start rate, one at a time /s", &|l| {
        format!("{:.1}", l.rate_sequential)
    });
    row("start rate, 32 at a time /s", &|l| {
        format!("{:.1}", l.rate_parallel)
    });
    row("fill to the level, 32 at a time /s", &|l| {
        format!("{:.1}", l.rate_fill)
    });
    row("daemon RSS MiB", &|l| {
        format!("{:.1}", l.footprint.daemon_rss as f64 / MIB)
    });
    row("monitors found", &|l| {
        l.footprint.monitors.len().to_string()
    });
    row("default bridge ports", &|l| {
        l.footprint
            .bridge_ports
            .map_or_else(|| "-".to_string(), |n| n.to_string())
    });
    row("monitor RSS p50 / p90 / max MiB", &|l| {
        let v = sorted(l.footprint.monitors.iter().map(|m| m.0 as f64).collect());
        p50_p90_max(&v)
    });
    row("monitor PSS p50 / p90 / max MiB", &|l| {
        let v = sorted(l.footprint.monitors.iter().map(|m| m.1 as f64).collect());
        p50_p90_max(&v)
    });
}

fn p50_p90_max(kib: &[f64]) -> String {
    match kib.last() {
        Some(max) => format!(
            "{:.2} / {:.2} / {:.2}",
            pct(kib, 50) / MIB,
            pct(kib, 90) / MIB,
            max / MIB
        ),
        None => "-".into(),
    }
}

fn p99(level: &Level, op: &str) -> Option<f64> {
    let (_, v) = level.ops.iter().find(|(o, _)| *o == op)?;
    Some(pct(&sorted(v.clone()), 99))
}

/// The targets, from the smallest and the largest level.
pub fn targets(levels: &[Level]) {
    let (Some(low), Some(high)) = (levels.first(), levels.last()) else {
        return;
    };
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let seq = high.rate_sequential / low.rate_sequential;
    let par = high.rate_parallel / low.rate_parallel;
    println!(
        "\ntarget: start rate at {} running ≥ 0.8 × at {}: one at a time {:.2}× ({}), 32 at a time {:.2}× ({})",
        high.running,
        low.running,
        seq,
        verdict(seq >= 0.8),
        par,
        verdict(par >= 0.8)
    );
    if let Some(list) = p99(high, "GET /containers/json") {
        println!(
            "target: GET /containers/json of {} p99 ≤ 20 ms: {list:.2} ms ({})",
            high.running,
            verdict(list <= 20.0)
        );
    }
    let rss = high.footprint.daemon_rss as f64 / MIB;
    println!(
        "target: berthd RSS ≤ 64 MiB at {}: {rss:.1} MiB ({})",
        high.running,
        verdict(rss <= 64.0)
    );
    let max = high
        .footprint
        .monitors
        .iter()
        .map(|m| m.0)
        .max()
        .unwrap_or(0) as f64
        / MIB;
    println!(
        "target: each idle monitor ≤ 1.5 MiB: max {max:.2} MiB of {} ({})",
        high.footprint.monitors.len(),
        verdict(max <= 1.5 && !high.footprint.monitors.is_empty())
    );
}

/// berth's p99 over docker's for each operation at each level both reached.
pub fn ratios(berth: &[Level], docker: &[Level]) {
    println!("\nberth / docker, p99 (p50) at each level");
    let Some(first) = berth.first() else { return };
    for (op, _) in &first.ops {
        let cells: Vec<String> = berth
            .iter()
            .zip(docker)
            .map(|(b, d)| {
                let get = |l: &Level, p: usize| {
                    l.ops
                        .iter()
                        .find(|(o, _)| o == op)
                        .map(|(_, v)| pct(&sorted(v.clone()), p))
                };
                match (get(b, 99), get(d, 99), get(b, 50), get(d, 50)) {
                    (Some(b99), Some(d99), Some(b50), Some(d50)) => {
                        format!("{:>22}", format!("{:.2} ({:.2})", b99 / d99, b50 / d50))
                    }
                    _ => format!("{:>22}", "-"),
                }
            })
            .collect();
        println!("  {op:<32}{}", cells.concat());
    }
    let rate = |f: &dyn Fn(&Level) -> f64| -> String {
        berth
            .iter()
            .zip(docker)
            .map(|(b, d)| format!("{:>22}", format!("{:.2}", f(b) / f(d))))
            .collect()
    };
    println!(
        "  {:<32}{}",
        "start rate, one at a time",
        rate(&|l| l.rate_sequential)
    );
    println!(
        "  {:<32}{}",
        "start rate, 32 at a time",
        rate(&|l| l.rate_parallel)
    );
    println!(
        "  {:<32}{}",
        "daemon RSS",
        rate(&|l| l.footprint.daemon_rss as f64)
    );
}
