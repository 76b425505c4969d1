//! One catch-up read of the in-house statements for every check a worker has in hand.
//!
//! A dialler's check must see every statement committed before it arrived, so each check needs
//! the index caught up with the database after its arrival. Under load a worker holds dozens of
//! checks at once (one per connection whose request has been read); they all arrived before a read
//! that starts now, so one read serves them all. The first check to find no read under way starts
//! one; checks that arrive while it runs wait for the next, which starts as soon as it ends (as
//! group commit does for writes). On SQLite the read runs on the worker itself, after every check
//! already woken on it has joined; on PostgreSQL it is a round trip on the blocking pool.
//!
//! One `Batcher` per worker thread: it is made in the app factory, which actix runs on each worker.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::error::ApiError;
use crate::inhouse::in_force::{InHouse, Statements};
use crate::store::Store;

/// The checks of one worker waiting for the next statements read.
#[derive(Default, Clone)]
pub struct Batcher {
    reads: SharedReads<Statements>,
}

impl Batcher {
    /// The statements in force, caught up after this call began.
    pub async fn current(&self, store: &Store, in_house: &Arc<InHouse>) -> Result<Statements, ApiError> {
        let (store, in_house) = (store.clone(), in_house.clone());
        let read = move || {
            let (store, index) = (store.clone(), in_house.clone());
            async move { super::read(&store, move |conn| Ok(index.current(conn)?)).await.map_err(|e| e.to_string()) }
        };
        self.reads.get(read).await.map_err(|e| ApiError::internal(format!("cannot read the in-house statements: {e}")))
    }
}

type Reply<T> = oneshot::Sender<Result<T, String>>;

struct Queue<T> {
    waiting: Vec<Reply<T>>,
    reading: bool,
}

/// Reads shared by the callers of one thread: each caller gets the result of a read that began
/// after it called.
pub struct SharedReads<T> {
    queue: Rc<RefCell<Queue<T>>>,
}

impl<T> Default for SharedReads<T> {
    fn default() -> Self {
        SharedReads { queue: Rc::new(RefCell::new(Queue { waiting: Vec::new(), reading: false })) }
    }
}

impl<T> Clone for SharedReads<T> {
    fn clone(&self) -> Self {
        SharedReads { queue: self.queue.clone() }
    }
}

impl<T: Clone + 'static> SharedReads<T> {
    /// Join the next read; start one (with `read`) if none is under way. Must run on a tokio
    /// `LocalSet` (an actix worker is one).
    pub async fn get<F, Fut>(&self, read: F) -> Result<T, String>
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<T, String>> + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut q = self.queue.borrow_mut();
            q.waiting.push(reply);
            !std::mem::replace(&mut q.reading, true)
        };
        if start {
            tokio::task::spawn_local(read_while_waiting(self.queue.clone(), read));
        }
        answer.await.map_err(|_| "the read was dropped".to_owned())?
    }
}

/// Marks the queue free to start a read when the reading task ends, however it ends: a task
/// that died mid-read must not leave every later caller waiting for it.
struct Reading<T>(Rc<RefCell<Queue<T>>>);

impl<T> Drop for Reading<T> {
    fn drop(&mut self) {
        if let Ok(mut q) = self.0.try_borrow_mut() {
            q.reading = false;
        }
    }
}

/// Read for everyone waiting; again while more arrived during the read. The waiters are taken
/// before the read starts: one that arrives during it waits for the next.
async fn read_while_waiting<T: Clone, F, Fut>(queue: Rc<RefCell<Queue<T>>>, read: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let _reading = Reading(queue.clone());
    loop {
        let waiting = std::mem::take(&mut queue.borrow_mut().waiting);
        if waiting.is_empty() {
            return;
        }
        let result = read().await;
        for reply in waiting {
            // A caller whose client has gone no longer listens; nothing to do.
            let _ = reply.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A read that takes a few turns of the scheduler and answers with its own number.
    fn counting(reads: Rc<Cell<u32>>) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<u32, String>>>> {
        move || {
            let reads = reads.clone();
            Box::pin(async move {
                reads.set(reads.get() + 1);
                let n = reads.get();
                for _ in 0..5 {
                    tokio::task::yield_now().await;
                }
                Ok(n)
            })
        }
    }

    fn run<F: Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    #[test]
    fn callers_together_share_a_read_and_a_late_caller_waits_for_the_next() {
        run(async {
            let (shared, reads) = (SharedReads::<u32>::default(), Rc::new(Cell::new(0)));
            // Three callers before the read starts: one read for all.
            let early: Vec<_> = (0..3)
                .map(|_| {
                    let (shared, reads) = (shared.clone(), reads.clone());
                    tokio::task::spawn_local(async move { shared.get(counting(reads)).await })
                })
                .collect();
            // Let the read start, then call while it is under way.
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            assert_eq!(reads.get(), 1, "the first read is under way");
            let late = {
                let (shared, reads) = (shared.clone(), reads.clone());
                tokio::task::spawn_local(async move { shared.get(counting(reads)).await })
            };
            for e in early {
                assert_eq!(e.await.expect("joined"), Ok(1));
            }
            assert_eq!(late.await.expect("joined"), Ok(2), "a caller that came during read 1 is answered by read 2");
            assert_eq!(reads.get(), 2);
            // Idle again: the next caller starts a read of its own.
            assert_eq!(shared.get(counting(reads.clone())).await, Ok(3));
        });
    }

    #[test]
    fn a_failed_read_fails_its_callers_and_the_next_caller_reads_again() {
        run(async {
            let shared = SharedReads::<u32>::default();
            assert_eq!(shared.get(|| async { Err::<u32, _>("database down".to_owned()) }).await, Err("database down".to_owned()));
            assert_eq!(shared.get(|| async { Ok(7) }).await, Ok(7));
        });
    }
}
