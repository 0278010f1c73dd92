//! The density procedure on one engine: fill to each level of running containers (32 at a
//! time), and at each level time every operation against a background of that many running
//! containers: list, inspect, stats (one-shot and the first frame of a stream), create+start,
//! stop and remove one at a time (20 more on top of the level), then remove -f and
//! create+start 32 at a time (64 of the level's containers replaced, or 64 on top of a level
//! smaller than that), plus the daemon's and the per-container monitors' memory. Each start
//! phase runs three rounds, each after the machine settled; its rate is the median round's.

use std::sync::Mutex;
use std::time::Instant;

use crate::common::pct;
use crate::footprint::{self, Footprint};
use crate::target::Target;

/// Workers for the "32 at a time" phases.
pub const PARALLEL: usize = 32;

/// Times each start phase runs at a level; its rate is the median round's. One round's rate
/// moved by a third between runs of the same build (the kernel still busy with an earlier
/// burst), more than the growth it is there to show.
const ROUNDS: usize = 3;

/// Samples per level (fewer for the second-long one-shot stats).
#[derive(Clone, Copy)]
pub struct Counts {
    pub list: usize,
    pub inspect: usize,
    pub stats_once: usize,
    pub stats_stream: usize,
    /// Containers started (and then stopped and removed) one at a time.
    pub sequential: usize,
    /// Containers started 32 at a time (then removed with force).
    pub parallel: usize,
}

/// What one level measured: samples in ms per operation, start rates, memory.
pub struct Level {
    pub running: usize,
    pub ops: Vec<(&'static str, Vec<f64>)>,
    /// Containers per second: one at a time, and 32 at a time.
    pub rate_sequential: f64,
    pub rate_parallel: f64,
    /// The fill up to this level, 32 at a time, in containers per second.
    pub rate_fill: f64,
    pub footprint: Footprint,
}

/// The running containers of this run, which the levels grow.
pub struct Fleet {
    pub target: Target,
    pub network: String,
    pub ids: Vec<String>,
}

impl Fleet {
    /// Starts containers 32 at a time until `n` run; the rate at which they started.
    pub fn fill_to(&mut self, n: usize) -> Result<f64, String> {
        let want = n.saturating_sub(self.ids.len());
        if want == 0 {
            return Ok(0.0);
        }
        let t = Instant::now();
        let (ids, _) = self.start_parallel(want)?;
        let rate = want as f64 / t.elapsed().as_secs_f64();
        self.ids.extend(ids);
        Ok(rate)
    }

    /// Waits (up to a minute) until the bridge has no more ports than `running` containers:
    /// the kernel deletes a removed container's veth with its namespace, a little later.
    fn wait_bridge(&self, running: usize) {
        if self.target.bridge.is_some() {
            berth_test_support::wait_until(std::time::Duration::from_secs(60), || {
                self.target.bridge_ports().unwrap_or(0) <= running
            });
        }
    }

    /// Waits (10 s at most) until the machine is 90% idle over a quarter second: the kernel
    /// finishes what the last burst of starts or removals left it (namespace clean-up,
    /// address detection on new links), so a timed phase measures the level, not the
    /// aftermath of the burst before it.
    fn settle(&self) {
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while Instant::now() < deadline {
            let a = cpu_times();
            std::thread::sleep(std::time::Duration::from_millis(250));
            let b = cpu_times();
            let (busy, idle) = (b.0.saturating_sub(a.0), b.1.saturating_sub(a.1));
            if idle * 10 >= (busy + idle) * 9 {
                return;
            }
        }
    }

    /// `count` create+starts spread over `PARALLEL` workers: the ids and each one's time.
    fn start_parallel(&self, count: usize) -> Result<(Vec<String>, Vec<f64>), String> {
        let todo = Mutex::new(count);
        let done = Mutex::new((Vec::new(), Vec::new()));
        let failed = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(count) {
                s.spawn(|| loop {
                    match todo.lock() {
                        Ok(mut left) if *left > 0 => *left -= 1,
                        _ => return,
                    }
                    match self.target.create_start(&self.network) {
                        Ok((id, took)) => {
                            if let Ok(mut d) = done.lock() {
                                d.0.push(id);
                                d.1.push(took);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failed.lock() {
                                f.get_or_insert(e);
                            }
                            if let Ok(mut left) = todo.lock() {
                                *left = 0;
                            }
                        }
                    }
                });
            }
        });
        let (ids, times) = done.into_inner().map_err(|_| "poisoned".to_string())?;
        match failed.into_inner().map_err(|_| "poisoned".to_string())? {
            // The ones that did start are still ours: the sweep finds them by label.
            Some(e) => Err(e),
            None => Ok((ids, times)),
        }
    }

    /// Removes `ids` with force, 32 at a time; each removal's time.
    fn remove_parallel(&self, ids: &[String]) -> Result<Vec<f64>, String> {
        let next = Mutex::new(ids.iter());
        let times = Mutex::new(Vec::new());
        let failed = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(ids.len()) {
                s.spawn(|| loop {
                    let Some(id) = next.lock().ok().and_then(|mut n| n.next()) else {
                        return;
                    };
                    match self.target.remove(id, true) {
                        Ok(t) => times.lock().map(|mut v| v.push(t)).unwrap_or(()),
                        Err(e) => failed.lock().map(|mut f| *f = Some(e)).unwrap_or(()),
                    }
                });
            }
        });
        match failed.into_inner().map_err(|_| "poisoned".to_string())? {
            Some(e) => Err(e),
            None => times.into_inner().map_err(|_| "poisoned".to_string()),
        }
    }

    /// Every measurement at the current level.
    pub fn measure(&mut self, c: Counts, rate_fill: f64) -> Result<Level, String> {
        let t = &self.target.clone();
        let ids = self.ids.clone();
        let pick = |i: usize| &ids[(i * 7919) % ids.len()];
        let mut ops: Vec<(&'static str, Vec<f64>)> = Vec::new();

        let mut list = Vec::with_capacity(c.list);
        for _ in 0..c.list {
            let (took, n) = t.list()?;
            if n < self.ids.len() {
                return Err(format!(
                    "{} listed {n} of {} containers",
                    t.name,
                    self.ids.len()
                ));
            }
            list.push(took);
        }
        ops.push(("GET /containers/json", list));
        ops.push((
            "inspect",
            (0..c.inspect)
                .map(|i| t.inspect(pick(i)))
                .collect::<Result<_, _>>()?,
        ));
        ops.push((
            "stats stream=false",
            (0..c.stats_once)
                .map(|i| t.stats_once(pick(i)))
                .collect::<Result<_, _>>()?,
        ));
        ops.push((
            "stats stream, 1st frame",
            (0..c.stats_stream)
                .map(|i| t.stats_stream_first(pick(i)))
                .collect::<Result<_, _>>()?,
        ));

        // One at a time: start, then stop and remove each, so the level stays where it is.
        let (mut starts, mut stops, mut removes) = (Vec::new(), Vec::new(), Vec::new());
        let mut rates = Vec::new();
        for _ in 0..ROUNDS {
            self.settle();
            let mut started = Vec::new();
            let wall = Instant::now();
            for _ in 0..c.sequential {
                let (id, took) = t.create_start(&self.network)?;
                starts.push(took);
                started.push(id);
            }
            rates.push(c.sequential as f64 / wall.elapsed().as_secs_f64());
            for id in &started {
                stops.push(t.stop(id)?);
                removes.push(t.remove(id, false)?);
            }
        }
        let rate_sequential = pct(&sorted(rates), 50);
        ops.push(("create+start", starts));
        ops.push(("stop", stops));
        ops.push(("remove", removes));

        // 32 at a time: a Linux bridge takes at most 1,023 ports, so at a level that leaves
        // no room for the extra containers on top, they replace as many of the level's
        // (removed first, and their veths gone), and the level ends where it began.
        let (mut times, mut removed) = (Vec::new(), Vec::new());
        let mut rates = Vec::new();
        for _ in 0..ROUNDS {
            self.wait_bridge(self.ids.len());
            let replace = self.ids.len() >= c.parallel;
            if replace {
                let gone: Vec<String> = self.ids.drain(self.ids.len() - c.parallel..).collect();
                removed.extend(self.remove_parallel(&gone)?);
                self.wait_bridge(self.ids.len());
            }
            self.settle();
            let wall = Instant::now();
            let (extra, took) = self.start_parallel(c.parallel)?;
            rates.push(extra.len() as f64 / wall.elapsed().as_secs_f64());
            times.extend(took);
            if replace {
                self.ids.extend(extra);
            } else {
                removed.extend(self.remove_parallel(&extra)?);
            }
        }
        let rate_parallel = pct(&sorted(rates), 50);
        ops.push(("create+start, 32 at a time", times));
        ops.push(("remove -f, 32 at a time", removed));

        // Idle monitors: the ones just started give back their start-up pages once quiet,
        // a second into the container's run; until then they are not idle yet.
        std::thread::sleep(std::time::Duration::from_secs(2));
        let footprint = footprint::measure(t, &self.ids);
        Ok(Level {
            running: self.ids.len(),
            ops,
            rate_sequential,
            rate_parallel,
            rate_fill,
            footprint,
        })
    }
}

/// The machine's busy and idle CPU time so far, in ticks (`/proc/stat`); zeros if unreadable.
fn cpu_times() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …: idle and iowait are idle.
    let idle = ticks.get(3).unwrap_or(&0) + ticks.get(4).unwrap_or(&0);
    (ticks.iter().sum::<u64>().saturating_sub(idle), idle)
}

/// Sorts samples for percentiles.
pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}
