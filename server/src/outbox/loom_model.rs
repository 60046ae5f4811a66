use super::*;
use loom::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::task::Wake;

#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let flag = Arc::new(Flag::default());
    (flag.clone(), Waker::from(flag))
}

/// The hub does `end` while the driver polls once: checks `ending`, then takes.
fn the_driver_learns_of(end: fn(&Outbox)) {
    loom::model(move || {
        let outbox = loom::sync::Arc::new(Outbox::new(8));
        let hub = {
            let outbox = outbox.clone();
            loom::thread::spawn(move || end(&outbox))
        };
        let (task, task_waker) = flag();
        let (idle, idle_waker) = flag();
        let ending = outbox.ending(&task_waker);
        let mut lines = VecDeque::new();
        let batch = outbox.take_into(&mut lines, usize::MAX, &idle_waker);
        hub.join().unwrap();
        let seen = ending != Ending::No || batch.end.is_some();
        let woken = task.0.load(Ordering::SeqCst) || idle.0.load(Ordering::SeqCst);
        assert!(seen || woken, "the end was lost: {ending:?} {batch:?}");
    });
}

fn wake_all(wakers: impl IntoIterator<Item = Option<Waker>>) {
    wakers.into_iter().flatten().for_each(Waker::wake);
}

#[test]
fn loom_a_close_is_never_lost() {
    the_driver_learns_of(|outbox| {
        if let Pushed::Wake(w) = outbox.push(Payload::from("line".to_string())) {
            wake_all([w]);
        }
        wake_all(outbox.close(CloseReason::Quit));
    });
}

#[test]
fn loom_an_overflow_is_never_lost() {
    the_driver_learns_of(|outbox| {
        if let Pushed::Overflow(w) = outbox.push(Payload::from("too long a line".to_string())) {
            wake_all(w);
        }
    });
}

/// A room's one reader, and the hub appending `lines` to the room on another thread
/// (waking whom each line says).
fn a_reader_and_the_hub_saying(
    lines: &'static [&'static str],
) -> (Outbox, loom::thread::JoinHandle<()>) {
    let feed = Feed::new("r".into(), 100);
    let outbox = Outbox::new(100);
    let cursor = feed.attach(chat_core::ConnId::numbered(1), chat_core::Rendering::Text);
    drop(outbox.read(0, Some(cursor)));
    let hub = loom::thread::spawn(move || {
        for text in lines {
            let appended = feed.append(Payload::from(text.to_string()), None, None);
            appended.wake.into_iter().for_each(Waker::wake);
        }
    });
    (outbox, hub)
}

/// The hub appends a room's line while the room's one reader, having read everything,
/// asks to be woken: it either takes the line or is woken for it.
#[test]
fn loom_a_rooms_line_is_never_missed() {
    loom::model(|| {
        let (outbox, hub) = a_reader_and_the_hub_saying(&["line"]);
        let (idle, idle_waker) = flag();
        let mut lines = VecDeque::new();
        outbox.take_into(&mut lines, usize::MAX, &idle_waker);
        hub.join().unwrap();
        let woken = idle.0.load(Ordering::SeqCst);
        assert!(!lines.is_empty() || woken, "the line was missed");
    });
}

/// Two lines while the reader polls: if it has not read both, it has been woken since
/// its last poll. (Found a real lost wake-up: a line took the
/// waiting readers after publishing its end, so a reader registering in between was
/// woken for the line it had just read and then missed the next one.)
#[test]
fn loom_a_reader_is_never_left_waiting_with_a_line_unread() {
    loom::model(|| {
        let (outbox, hub) = a_reader_and_the_hub_saying(&["one", "two"]);
        // One task, polled as a driver is: again at once after it took something or
        // was woken meanwhile, else only when woken; its flag is lowered before each poll.
        let (woken, waker) = flag();
        let mut lines = VecDeque::new();
        for _ in 0..4 {
            woken.0.store(false, Ordering::SeqCst);
            let before = lines.len();
            outbox.take_into(&mut lines, usize::MAX, &waker);
            if lines.len() == before && !woken.0.load(Ordering::SeqCst) {
                break; // waiting: only a wake brings it back
            }
        }
        hub.join().unwrap();
        let woken = woken.0.load(Ordering::SeqCst);
        assert!(
            lines.len() == 2 || woken,
            "left waiting with {lines:?} read"
        );
    });
}
