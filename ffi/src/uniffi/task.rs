//! Running the bindings' async methods on Pinhole's runtime: the foreign side (a Kotlin
//! coroutine, a Swift task) polls a future that only awaits a task spawned on Pinhole's
//! runtime, so timers and I/O always have their runtime and no second runtime exists.
//! Cancelling on the foreign side aborts the spawned task.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::{JoinError, JoinHandle};

use super::error::PinholeError;

/// Aborts the task if the awaiting side goes away first.
pub(crate) struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Spawns `f` on Pinhole's runtime; the returned future resolves with its output (or
/// the join error, if the task was cancelled). `Io` if the runtime cannot start.
pub(crate) fn on_pinhole_runtime<F>(f: F) -> Result<AbortOnDrop<F::Output>, PinholeError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(AbortOnDrop(super::runtime()?.spawn(f)))
}
