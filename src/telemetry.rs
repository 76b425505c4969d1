//! Logging: the subscriber the binary installs, and the request id every log line a request
//! causes carries (CONTRACT §13).
//!
//! The id is not a tracing span: a span is made, formatted and kept in the subscriber's registry
//! for every request, which cost about a tenth of `GET /v1/check`'s throughput
//! (BENCHMARKS.md). It is a task-local value for the request's future, handed to blocking-pool
//! closures by [`carry`], and written at the head of each log line by [`WithRequestId`].

use std::cell::RefCell;
use std::future::Future;
use std::io::IsTerminal;
use std::sync::Arc;

use tracing::Subscriber;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

tokio::task_local! {
    static TASK_ID: Arc<str>;
}

thread_local! {
    static THREAD_ID: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Run a request's future with its id.
pub async fn scope<F: Future>(id: Arc<str>, f: F) -> F::Output {
    TASK_ID.scope(id, f).await
}

/// The id of the request being served here, if any.
pub fn current() -> Option<Arc<str>> {
    TASK_ID.try_with(Arc::clone).ok().or_else(|| THREAD_ID.with(|t| t.borrow().clone()))
}

/// `f` wrapped so that, on whatever thread it runs, it carries the current request's id.
pub fn carry<T>(f: impl FnOnce() -> T) -> impl FnOnce() -> T {
    let id = current();
    move || {
        let before = THREAD_ID.with(|t| t.replace(id));
        let out = f();
        THREAD_ID.with(|t| *t.borrow_mut() = before);
        out
    }
}

/// An event format that puts `request_id=…` before the inner format's line.
pub struct WithRequestId<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithRequestId<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &tracing::Event<'_>) -> std::fmt::Result {
        if let Some(id) = current() {
            write!(writer, "request_id={id} ")?;
        }
        self.0.format_event(ctx, writer, event)
    }
}

/// Install the process's subscriber: `RUST_LOG` (default `info`) to stderr.
pub fn init() {
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .event_format(WithRequestId(tracing_subscriber::fmt::format().with_ansi(ansi)))
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_follows_the_request_into_blocking_work_and_no_further() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| panic!("{e}"));
        let id: Arc<str> = Arc::from("req-1");
        let (inside, carried) = rt.block_on(scope(id, async {
            let f = carry(current);
            let carried = std::thread::spawn(f).join().unwrap_or_default();
            (current(), carried)
        }));
        assert_eq!(inside.as_deref(), Some("req-1"));
        assert_eq!(carried.as_deref(), Some("req-1"));
        assert_eq!(current(), None);
        // A thread that ran carried work is left as it was.
        let f = carry(|| 1);
        assert_eq!(f(), 1);
        assert_eq!(current(), None);
    }
}
