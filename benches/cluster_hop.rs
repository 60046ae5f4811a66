//! What a line costs through the cluster's broker, against a real `redis-server` started
//! on a free loopback port: one `chat_say` per round trip, the same in pipelines of 256,
//! and through a `Node` (its writer thread, the pipeline, the reader thread that brings the
//! event back), which is the path a line takes between two nodes.

use chat_cluster::testing::Redis;
use chat_cluster::{Answer, Broker, Delivery, Event, Member, Node, NodeConfig, Proposal, Status};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::{Duration, Instant};

fn member() -> Member {
    Member {
        node: "bench".into(),
        conn: 0,
    }
}

fn say(text: &str) -> Proposal {
    Proposal::Say {
        member: member(),
        room: "main".into(),
        text: text.into(),
        action: false,
        ts: 1,
    }
}

fn join() -> Proposal {
    Proposal::Join {
        member: member(),
        room: "main".into(),
        wanted: None,
        quiet: false,
        again: false,
        signed: false,
    }
}

fn hop(c: &mut Criterion) {
    let redis = Redis::start();
    let mut broker = Broker::connect(&redis.url(), "bench", Duration::from_secs(5)).expect("redis");
    broker.run_one(&join(), 0, 1000).expect("join");
    let line = say(&"x".repeat(64));
    let mut group = c.benchmark_group("cluster_hop");
    group.throughput(Throughput::Elements(1));
    group.bench_function("say_one_round_trip", |b| {
        b.iter(|| broker.run_one(&line, 0, 1000).expect("say"))
    });
    let batch = vec![line.clone(); 256];
    group.throughput(Throughput::Elements(256));
    group.bench_function("say_pipeline_256", |b| {
        b.iter(|| broker.run(&batch, 0, 1000).expect("say"))
    });
    drop(broker);

    // Through a node: 256 lines proposed at once, until every answer and every event is
    // back (the writer pipelines what is queued; the reader follows the stream).
    let node = Node::start(NodeConfig {
        url: redis.url(),
        prefix: "bench-node".into(),
        node: "bench".into(),
        node_timeout: Duration::from_secs(10),
        retain: 1000,
    });
    let deliveries = node.deliveries();
    let wait = |want: &mut dyn FnMut(Delivery) -> bool| loop {
        let d = deliveries.recv_blocking().expect("the node runs");
        if want(d) {
            return;
        }
    };
    wait(&mut |d| matches!(d, Delivery::Status(Status::Connected { .. })));
    node.propose(0, join());
    wait(&mut |d| matches!(d, Delivery::Answer { tag: 0, .. }));
    group.bench_function("say_through_a_node_256", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for tag in 1..=256 {
                    assert!(node.propose(tag, line.clone()).is_none(), "queue full");
                }
                let (mut answers, mut events) = (0, 0);
                wait(&mut |d| {
                    match d {
                        Delivery::Answer {
                            answer: Answer::Said(Some(_)),
                            ..
                        } => answers += 1,
                        Delivery::Answer { answer, .. } => panic!("not said: {answer:?}"),
                        Delivery::Event {
                            event: Event::Say { .. },
                            ..
                        } => events += 1,
                        _ => {}
                    }
                    answers == 256 && events == 256
                });
            }
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, hop);
criterion_main!(benches);
