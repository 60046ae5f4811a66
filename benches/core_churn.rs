//! Join/leave churn: one connection joins a room and leaves again, with its outputs
//! (greeting, history, and notices while the room is small) drained.

use chat_benches::room_of;
use chat_core::{Join, LeaveReason};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;

fn churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("join_leave");
    // 50: every join and leave is announced to the room; 10,000: past the announce limit.
    for members in [50usize, 10_000] {
        let (mut chat, _ids, now) = room_of(members);
        group.bench_with_input(BenchmarkId::from_parameter(members), &members, |b, _| {
            b.iter(|| {
                let (id, client) = chat.handle_join(Join::default(), now).expect("room");
                black_box(&client);
                while let Some(out) = chat.poll_output() {
                    black_box(&out);
                }
                chat.handle_leave(id, LeaveReason::Closed);
                while let Some(out) = chat.poll_output() {
                    black_box(&out);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, churn);
criterion_main!(benches);
