//! The timer task: sleeps until the core's next deadline and delivers it.

use crate::hub::Hub;
use crate::runtime::Runtime;
use futures_lite::future;
use std::sync::Arc;
use std::time::Instant;

/// Sleeps until the core's next deadline, or until the hub says an earlier one appeared,
/// and delivers what is due. Ends when the hub shuts down (it closes `changed`).
pub(crate) async fn run<R: Runtime>(rt: R, hub: Arc<Hub>, changed: async_channel::Receiver<()>) {
    let mut next: Option<Instant> = None;
    loop {
        let moved = async { changed.recv().await.is_ok() };
        let running = match next {
            Some(at) => {
                future::or(
                    async {
                        rt.sleep_until(at).await;
                        true
                    },
                    moved,
                )
                .await
            }
            None => moved.await,
        };
        if !running {
            return;
        }
        next = hub.timeout(rt.now().at);
    }
}
