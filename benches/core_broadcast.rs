//! Broadcast cost of the core by room size: one 64-byte chat line in, its one room output
//! drained and dropped (the runtime's feed hands it to each reader; see the server's
//! `hub` bench for that part). Throughput is in recipients, so criterion's time per
//! element is the core's cost per recipient (it falls with the room's size: a line costs
//! the core the same whatever the size).
//!
//! `floor/N` measures, in the same run, the least any design that hands each recipient its
//! own reference-counted handle can cost: clone a `Bytes` into a queue and drop it again.

use bytes::Bytes;
use chat_benches::room_of;
use chat_core::Said;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;

const LINE: &str = "0123456789012345678901234567890123456789012345678901234567890123";

fn broadcast(c: &mut Criterion) {
    let mut group = c.benchmark_group("broadcast");
    for members in [10usize, 1_000, 10_000, 100_000] {
        let (mut chat, mut speakers, now) = room_of(members);
        let (sender, client) = &mut speakers[0];
        let sender = *sender;
        group.throughput(Throughput::Elements(members as u64));
        if members >= 10_000 {
            group.sample_size(30);
        }
        group.bench_with_input(BenchmarkId::from_parameter(members), &members, |b, _| {
            b.iter(|| {
                // The sender's client checks it first, as its driver does.
                let Said::Lines(lines) = client.handle_text(LINE, now.at) else {
                    panic!("no rate limit here");
                };
                chat.handle_text(sender, lines, now);
                let mut outputs = 0usize;
                while let Some(out) = chat.poll_output() {
                    black_box(&out);
                    outputs += 1;
                }
                assert_eq!(outputs, 1, "one output for the whole room");
            })
        });
    }
    group.finish();
}

fn floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    let members = 10_000usize;
    let ids: Vec<u64> = (0..members as u64).collect();
    let payload = Bytes::from(format!("[user0]: {LINE}"));
    let mut queue: VecDeque<(u64, Bytes)> = VecDeque::with_capacity(members);
    group.throughput(Throughput::Elements(members as u64));
    group.sample_size(30);
    group.bench_function(BenchmarkId::new("bytes", members), |b| {
        b.iter(|| {
            queue.extend(ids.iter().map(|&id| (id, payload.clone())));
            while let Some(out) = queue.pop_front() {
                black_box(&out);
            }
        })
    });
    // The same with an `Arc<str>`, whose clone and drop are inline (no vtable call).
    let shared: Arc<str> = Arc::from(std::str::from_utf8(&payload).unwrap_or(""));
    let mut arcs: VecDeque<(u64, Arc<str>)> = VecDeque::with_capacity(members);
    group.bench_function(BenchmarkId::new("arc", members), |b| {
        b.iter(|| {
            arcs.extend(ids.iter().map(|&id| (id, shared.clone())));
            while let Some(out) = arcs.pop_front() {
                black_box(&out);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, broadcast, floor);
criterion_main!(benches);
