//! Process fault family on a swarm of three managers while a client keeps creating,
//! scaling, updating and removing services through whichever managers are up: the leader
//! SIGKILLed again and again (restarted each time), a rolling restart of every manager, and
//! a full power-off (every berthd killed at once) and restart from disk. Afterwards the
//! history checker finds every acknowledged write in the final state, no version read going
//! backwards and no service over-replicated for long. Short rounds by default;
//! `CHAOS_SOAK_SECS` repeats epochs (leader kills for `CHAOS_EPOCH_SECS`, then the rolling
//! restart and the power-off, convergence and the check) for that long.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::tests_outside_test_module,
    reason = "integration tests panic on failure by design"
)]

mod chaos_support;
mod swarm_support;

use std::time::{Duration, Instant};

use berth_chaos_tests::require_root;
use berth_chaos_tests::swarm::{self, poll};
use chaos_support::*;
use rand::Rng;
use swarm_support::{LogsOnFailure, LONG, MANAGERS};

/// Leader kills in CI's short mode.
const SHORT_KILLS: usize = 3;

#[test]
fn acknowledged_writes_survive_leader_kills_a_rolling_restart_and_a_power_off() {
    require_root!();
    let mut rng = seeded("chaos_process");
    let mut c = swarm_with(3, 3, swarm::node_options());
    let _logs = LogsOnFailure::new(&c);
    let mut figures = Figures::default();
    epochs(|epoch| {
        let seed = rng.random();
        let e = swarm_epoch(&mut c, epoch, "proc", 5, &MANAGERS, seed, |c, live| {
            let mut round = 0;
            while epoch.another_round(round, SHORT_KILLS) {
                round += 1;
                let leader = leader_among(c, &MANAGERS);
                std::thread::sleep(Duration::from_millis(rng.random_range(500..3000)));
                live.without(leader);
                c.kill(leader).unwrap();
                figures.faults += 1;
                let rest: Vec<usize> = MANAGERS.into_iter().filter(|i| *i != leader).collect();
                let elected = poll(LONG, Duration::from_millis(100), || {
                    swarm::leader(c, &rest).is_some()
                });
                assert!(elected, "round {round}: no leader after killing {leader}");
                std::thread::sleep(Duration::from_millis(rng.random_range(500..3000)));
                c.restart(leader).unwrap();
                live.with(leader);
                eprintln!("round {round}: leader {leader} killed and restarted");
            }
            // Rolling restart: one manager after the other, each back before the next goes.
            for i in MANAGERS {
                live.without(i);
                c.restart(i).unwrap();
                figures.faults += 1;
                live.with(i);
                let back = poll(LONG, Duration::from_millis(200), || {
                    swarm::leader(c, &MANAGERS).is_some()
                });
                assert!(back, "no leader after restarting manager {i}");
            }
            eprintln!("rolling restart done");
            // Power-off: every daemon killed, then all started again from their data roots.
            live.set_alive(&[]);
            for i in MANAGERS {
                c.kill(i).unwrap();
            }
            figures.faults += 1;
            std::thread::sleep(Duration::from_secs(1));
            for i in MANAGERS {
                c.restart(i).unwrap();
            }
            live.set_alive(&MANAGERS);
            let last = Instant::now();
            // Some writes after the cluster is back, so the history ends on a working cluster.
            let back = poll(LONG, Duration::from_millis(200), || {
                swarm::leader(c, &MANAGERS).is_some()
            });
            assert!(back, "no leader after the power-off");
            std::thread::sleep(Duration::from_secs(3));
            last
        });
        figures.add_epoch(&e);
    });
    figures.print("chaos_process");
    assert_eq!(figures.lost, 0, "see VIOLATION lines");
    assert!(figures.ops.0 > 0, "no write was acknowledged");
}
