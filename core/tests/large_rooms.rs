//! Large rooms: no presence notices past the announce limit, capped lists.

mod common;
use chat_core::Config;
use common::*;

#[test]
fn join_and_leave_notices_stop_past_the_announce_limit() {
    let mut h = Harness::with(Config {
        announce_limit: 3,
        ..Config::default()
    });
    let a = h.join_quiet("a");
    h.join_quiet("b");
    let c = h.join_quiet("c"); // 3 after the join: announced
    assert_eq!(h.lines(a), ["* b joined", "* c joined"]);
    let d = h.join_quiet("d"); // 4: not announced
    assert!(h.read(a).is_empty());
    h.leave(d); // 4 before the leave: not announced
    assert!(h.read(a).is_empty());
    h.leave(c); // 3 before the leave: announced
    assert_eq!(h.lines(a), ["* c left"]);
}

#[test]
fn users_lists_the_first_hundred_names_and_the_rest_as_a_count() {
    let mut h = Harness::with(Config {
        rate: 0.0,
        ..Config::default()
    });
    let ids: Vec<_> = (0..250)
        .map(|i| h.join_quiet(&format!("n{i:03}")))
        .collect();
    for id in &ids {
        h.read(*id);
    }
    h.send(ids[0], "/users");
    let line = h.lines(ids[0]).pop().unwrap();
    let names: Vec<String> = (0..100).map(|i| format!("n{i:03}")).collect();
    assert_eq!(
        line,
        format!("* users in #main (250): {} and 150 more", names.join(", "))
    );
}

#[test]
fn rooms_lists_at_most_the_list_limit() {
    let mut h = Harness::with(Config {
        list_limit: 2,
        ..Config::default()
    });
    let a = h.join_quiet("a");
    for r in ["r1", "r2", "r3"] {
        let id = h.join_quiet(&format!("u{r}"));
        h.send(id, &format!("/join {r}"));
    }
    h.read(a);
    h.send(a, "/rooms");
    assert_eq!(h.lines(a), ["* rooms: #main (1), #r1 (1) and 2 more"]);
}

#[test]
fn a_line_is_one_output_whatever_the_size_of_its_room() {
    let mut h = Harness::with(Config {
        rate: 0.0,
        ..Config::default()
    });
    for size in [2usize, 1_000] {
        let room = format!("r{size}");
        let ids: Vec<_> = (0..size)
            .map(|i| h.join_quiet(&format!("m{size}x{i}")))
            .collect();
        for &id in &ids {
            h.send(id, &format!("/join {room}"));
            h.read(id);
        }
        for &id in &ids {
            h.read(id);
        }
        let now = Now::new(h.now, EPOCH_MS);
        let refused = h.clients.text(&mut h.chat, ids[0], "hi", now);
        assert!(refused.is_none());
        let mut outputs = Vec::new();
        while let Some(out) = h.chat.poll_output() {
            outputs.push(out);
        }
        match &outputs[..] {
            [chat_core::Output::Room {
                room: r,
                text,
                json: None,
                except: None,
            }] => {
                assert_eq!(
                    (&**r, text.as_str()),
                    (&*room, &*format!("[m{size}x0]: hi"))
                );
            }
            other => panic!("one room output, not {other:?}"),
        }
        // Handed to the readers, each member of the room gets it once.
        let mut to = Vec::new();
        for out in outputs {
            h.feeds.expand(out, |o| to.extend(o.to()));
        }
        to.sort();
        assert_eq!(to, ids);
    }
}
