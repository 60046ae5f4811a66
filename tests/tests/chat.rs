//! The chat over real WebSockets: greeting, names, broadcast, rooms, commands, history, JSON.
//! Every test runs once per runtime.

mod common;
use common::*;

for_every_runtime!(
    the_ktor_tutorial_exchange_works_unchanged,
    names_broadcast_and_presence,
    query_parameters_choose_name_and_room,
    commands_work_over_the_wire,
    history_is_replayed_on_join,
    a_reconnect_with_since_gets_exactly_the_missed_lines,
    json_rendering_by_subprotocol,
    text_rules_apply,
    binary_frames_are_ignored,
);

fn the_ktor_tutorial_exchange_works_unchanged(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut client = server.connect();
    assert_eq!(client.line(), "You are connected! There are 1 users here.");
    assert_eq!(client.line(), "* you are user0 in #main");
    client.send("Hello, I was first!");
    assert_eq!(client.line(), "[user0]: Hello, I was first!");
}

fn names_broadcast_and_presence(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut a = server.connect();
    assert_eq!(a.welcome(), "user0");
    let mut b = server.connect();
    assert_eq!(b.line(), "You are connected! There are 2 users here.");
    assert_eq!(b.line(), "* you are user1 in #main");
    assert_eq!(a.line(), "* user1 joined");
    b.send("hi all");
    assert_eq!(a.line(), "[user1]: hi all");
    assert_eq!(b.line(), "[user1]: hi all");
    b.send("/quit");
    assert_eq!(b.expect_close(), 1000);
    assert_eq!(a.line(), "* user1 left");
}

fn query_parameters_choose_name_and_room(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut alice = server.connect_as("?name=alice&room=%23Rust");
    assert_eq!(alice.line(), "You are connected! There are 1 users here.");
    assert_eq!(alice.line(), "* you are alice in #rust");
    let mut other = server.connect_as("?name=ALICE&room=a%20b");
    assert_eq!(
        other.lines(4),
        [
            "You are connected! There are 1 users here.",
            "! invalid room: a b",
            "! name taken: ALICE",
            "* you are user0 in #main"
        ]
    );
}

fn commands_work_over_the_wire(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut a = server.connect_as("?name=alice");
    a.welcome();
    let mut b = server.connect_as("?name=bob");
    b.welcome();
    assert_eq!(a.line(), "* bob joined");

    a.send("/nick Al");
    assert_eq!(a.line(), "* alice is now known as Al");
    assert_eq!(b.line(), "* alice is now known as Al");
    b.send("/w al psst");
    assert_eq!(a.line(), "[bob -> Al]: psst");
    assert_eq!(b.line(), "[bob -> Al]: psst");
    a.send("/me waves");
    assert_eq!(b.line(), "* Al waves");
    assert_eq!(a.line(), "* Al waves");
    a.send("/users");
    assert_eq!(a.line(), "* users in #main (2): Al, bob");
    b.send("/join side");
    assert_eq!(b.line(), "* you are bob in #side (1 users)");
    assert_eq!(a.line(), "* bob left");
    a.send("/rooms");
    assert_eq!(a.line(), "* rooms: #main (1), #side (1)");
    a.send("/help");
    assert!(a
        .line()
        .starts_with("* commands: /nick NAME, /whisper NAME TEXT"));
    a.send("/dance");
    assert_eq!(a.line(), "! unknown command: /dance (try /help)");
    a.send("/w nobody hi");
    assert_eq!(a.line(), "! no such user: nobody");
    a.send("/quit bye now");
    assert_eq!(a.expect_close(), 1000);
}

fn history_is_replayed_on_join(rt: Rt) {
    let server = Server::start(rt, &["--history", "2"]);
    let mut a = server.connect();
    a.welcome();
    for text in ["one", "two", "three"] {
        a.send(text);
        a.line();
    }
    let mut b = server.connect();
    b.welcome();
    assert_eq!(b.lines(2), ["[user0]: two", "[user0]: three"]);
}

fn a_reconnect_with_since_gets_exactly_the_missed_lines(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut talker = server.connect_as("?name=talker");
    talker.welcome();
    let mut a = server.connect_json("?name=a");
    a.line(); // welcome
    assert_eq!(talker.line(), "* a joined");
    talker.send("before");
    let seen: serde_json::Value = serde_json::from_str(&a.line()).unwrap();
    let last = seen["id"].as_u64().expect("a message has an id");
    drop(a);
    assert_eq!(talker.lines(2), ["[talker]: before", "* a left"]);
    talker.send("missed 1\nmissed 2");
    talker.lines(2);
    let mut back = server.connect_json(&format!("?name=a&since={last}"));
    assert_eq!(json_line(&mut back)["type"], "welcome");
    for (i, text) in ["missed 1", "missed 2"].into_iter().enumerate() {
        let line = json_line(&mut back);
        assert_eq!(line["text"], text);
        assert_eq!(line["id"].as_u64(), Some(last + 1 + i as u64));
        assert_eq!(line["replay"], true);
    }
    back.expect_nothing(std::time::Duration::from_millis(200));
    // A text client: the same lines, the tutorial's bytes; a bad since is refused first.
    let mut text = server.connect_as(&format!("?since={last}"));
    text.welcome();
    assert_eq!(text.lines(2), ["[talker]: missed 1", "[talker]: missed 2"]);
    let mut bad = server.connect_as("?since=yesterday");
    bad.line();
    assert_eq!(bad.line(), "! invalid since: yesterday");
}

fn json_line(client: &mut Client) -> serde_json::Value {
    serde_json::from_str(&client.line()).expect("a JSON line")
}

fn json_rendering_by_subprotocol(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut t = server.connect_as("?name=txt");
    t.welcome();
    let mut j = server.connect_json("?name=js");
    let welcome: serde_json::Value = serde_json::from_str(&j.line()).unwrap();
    assert_eq!(
        welcome,
        serde_json::json!({"type":"welcome","you":"js","room":"main","users":["js","txt"],"total":2})
    );
    assert_eq!(t.line(), "* js joined");
    t.send("hello");
    let message: serde_json::Value = serde_json::from_str(&j.line()).unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["from"], "txt");
    assert_eq!(message["text"], "hello");
    let ts = message["ts"].as_u64().expect("ts is a number");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        now_ms.abs_diff(ts) < 60_000,
        "ts {ts} is the server's clock, now {now_ms}"
    );
    assert_eq!(t.line(), "[txt]: hello");
    j.send("/nope");
    let error: serde_json::Value = serde_json::from_str(&j.line()).unwrap();
    assert_eq!(error["code"], "unknown_command");
}

fn text_rules_apply(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut a = server.connect();
    a.welcome();
    a.send("   ");
    a.send("one\r\ntwo");
    assert_eq!(a.lines(2), ["[user0]: one", "[user0]: two"]);
    a.send("evil\u{1b}[2J");
    assert_eq!(a.line(), "[user0]: evil\u{FFFD}[2J");
    a.send(&"x".repeat(4097));
    assert_eq!(a.line(), "! message too long (max 4096 bytes)");
    a.send(&vec!["l"; 21].join("\n"));
    assert_eq!(a.line(), "! too many lines (max 20)");
    a.send("//me is text");
    assert_eq!(a.line(), "[user0]: /me is text");
}

fn binary_frames_are_ignored(rt: Rt) {
    let server = Server::start(rt, &[]);
    let mut a = server.connect();
    a.welcome();
    a.ws.send(tungstenite::Message::binary(vec![1, 2, 3]))
        .unwrap();
    a.send("after");
    assert_eq!(a.line(), "[user0]: after");
}
