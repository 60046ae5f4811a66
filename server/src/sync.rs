//! The synchronisation primitives the outbox and the feeds are built on: std's and futures', or loom's
//! models of them when built with `--cfg chat_loom`, so that loom can check every interleaving
//! of the hub and a driver (`RUSTFLAGS="--cfg chat_loom" cargo test -p chat-server --lib loom`).

#[cfg(not(chat_loom))]
pub(crate) use futures_util::task::AtomicWaker;
#[cfg(not(chat_loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU32, AtomicU64, AtomicU8},
    Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

#[cfg(chat_loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU32, AtomicU64, AtomicU8},
    Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

/// loom's `AtomicWaker` under the names of futures' one.
#[cfg(chat_loom)]
#[derive(Debug, Default)]
pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

#[cfg(chat_loom)]
impl AtomicWaker {
    pub(crate) fn new() -> Self {
        AtomicWaker(loom::future::AtomicWaker::new())
    }

    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.0.register_by_ref(waker);
    }

    pub(crate) fn wake(&self) {
        self.0.wake();
    }

    pub(crate) fn take(&self) -> Option<std::task::Waker> {
        self.0.take_waker()
    }
}
