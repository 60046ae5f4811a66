//! SIGINT and SIGTERM, as a future that completes on the first of them.

use std::future::Future;

/// Completes on the first SIGINT or SIGTERM. The handler runs on a thread of its own
/// (ctrlc's), so this works on every runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    let (tx, rx) = async_channel::bounded::<()>(1);
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    }) {
        tracing::warn!("cannot handle SIGINT/SIGTERM: {e}");
    }
    async move {
        let _ = rx.recv().await;
    }
}
