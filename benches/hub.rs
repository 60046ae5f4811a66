//! The hub without sockets (`chat_server::bench::Rooms`): what a line costs under the hub's
//! lock by room size, and how the hub scales with the threads that drive it.
//!
//! - `hub_line/N`: one line said into a room of N idle members: the input alone, which is
//!   the time the hub's lock is held and the members' wakers woken (no-op wakers here).
//!   The members take their lines after each, untimed. The lock's own share is printed
//!   after each size (from the hub's `/metrics` counters).
//! - `hub_threads/T`: 200 rooms of 50 members; T threads each say one line into each of
//!   their rooms (rooms split between them) and then take every member's lines, as the
//!   connections' drivers would. Throughput is in deliveries: T = 2 against T = 1 is the
//!   scaling on two cores. After it, the share of the time spent under the lock is printed
//!   (the serial fraction for Amdahl's law).

use chat_server::bench::Rooms;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};

const LINE: &str = "0123456789012345678901234567890123456789012345678901234567890123";

fn line_by_room_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("hub_line");
    for members in [10usize, 1_000, 10_000] {
        let rooms = Rooms::new(1, members);
        let before = rooms.lock_held();
        group.bench_with_input(BenchmarkId::from_parameter(members), &members, |b, _| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    rooms.say(0, LINE);
                    spent += start.elapsed();
                    assert_eq!(rooms.read(0), members, "every member got it");
                }
                spent
            })
        });
        let after = rooms.lock_held();
        eprintln!(
            "hub_line/{members}: the lock held {} ns per line",
            (after.1 - before.1) / (after.0 - before.0).max(1)
        );
    }
    group.finish();
}

const ROOMS: usize = 200;
const MEMBERS: usize = 50;

/// `threads` threads drive their share of the rooms `iters` times each.
fn drive(rooms: &Rooms, threads: usize, iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for _ in 0..iters {
                    for r in (t..rooms.len()).step_by(threads) {
                        rooms.say(r, LINE);
                    }
                    for r in (t..rooms.len()).step_by(threads) {
                        rooms.read(r);
                    }
                }
            });
        }
    });
    start.elapsed()
}

fn threads(c: &mut Criterion) {
    let rooms = Rooms::new(ROOMS, MEMBERS);
    let mut group = c.benchmark_group("hub_threads");
    group.throughput(Throughput::Elements((ROOMS * MEMBERS) as u64));
    for threads in [1usize, 2] {
        group.bench_with_input(BenchmarkId::from_parameter(threads), &threads, |b, &t| {
            b.iter_custom(|iters| drive(&rooms, t, iters))
        });
    }
    group.finish();
    // The serial fraction, on one thread: the lock's share of the time.
    let (inputs0, locked0) = rooms.lock_held();
    let took = drive(&rooms, 1, 200);
    let (inputs1, locked1) = rooms.lock_held();
    let locked = locked1 - locked0;
    eprintln!(
        "hub_threads: under the lock {:.1} % of one thread's time ({} ns per line, {} lines)",
        100.0 * locked as f64 / took.as_nanos() as f64,
        locked / (inputs1 - inputs0).max(1),
        inputs1 - inputs0,
    );
}

criterion_group!(benches, line_by_room_size, threads);
criterion_main!(benches);
