//! The statement writer: one thread that takes statements from every request and commits them in
//! groups. Agents' opt-outs arrive concurrently; SQLite has one writer at a time, and making each
//! request wait its turn on the database lock (with its sleeping busy handler) wastes most of the
//! disk's time. Here each commit carries every statement that arrived while the previous one was
//! being synced, and a request is answered only after its commit is on disk.

use diesel::Connection;
use tokio::sync::{mpsc, oneshot};

use super::outbox::{self, NewMessage};
use super::statements::{self, NewStatement, StatementRow};
use super::{Pool, QueryError};

/// Requests waiting for the writer before senders are made to wait.
const QUEUE: usize = 4_096;
/// Requests in one commit at most.
const GROUP: usize = 512;

struct Job {
    rows: Vec<NewStatement>,
    /// Messages the statements cause (an opt-out's confirmation), committed with them.
    messages: Vec<NewMessage>,
    reply: oneshot::Sender<Result<Vec<StatementRow>, String>>,
}

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the statement writer has stopped")]
    Stopped,
    #[error("the database refused the statements: {0}")]
    Database(String),
}

impl Writer {
    pub fn start(pool: Pool) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new().name("statement-writer".into()).spawn(move || run(pool, rx))?;
        Ok(Writer { tx })
    }

    /// Record the rows of one request, and the messages they cause, atomically; returns the
    /// rows as stored, in order.
    pub async fn record(&self, rows: Vec<NewStatement>, messages: Vec<NewMessage>) -> Result<Vec<StatementRow>, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job { rows, messages, reply }).await.map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?.map_err(WriteError::Database)
    }
}

fn run(pool: Pool, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        commit_group(&pool, jobs);
    }
}

fn commit_group(pool: &Pool, jobs: Vec<Job>) {
    let mut conn = match pool.get() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "statement writer: no database connection");
            for job in jobs {
                let _ = job.reply.send(Err(format!("no database connection: {e}")));
            }
            return;
        }
    };
    // One multi-row insert for the whole group (one round trip on PostgreSQL), then the stored
    // rows handed back to each request in order: ids are given in the order rows are inserted.
    let grouped = conn.transaction::<_, QueryError, _>(|c| {
        let all: Vec<NewStatement> = jobs.iter().flat_map(|j| j.rows.iter().cloned()).collect();
        let mut stored = statements::insert_returning(c, &all)?;
        let messages: Vec<NewMessage> = jobs.iter().flat_map(|j| j.messages.iter().cloned()).collect();
        outbox::insert(c, &messages)?;
        stored.sort_by_key(|r| r.id);
        let mut stored = stored.into_iter();
        Ok(jobs.iter().map(|j| stored.by_ref().take(j.rows.len()).collect::<Vec<_>>()).collect::<Vec<_>>())
    });
    match grouped {
        Ok(results) => {
            for (job, stored) in jobs.into_iter().zip(results) {
                let _ = job.reply.send(Ok(stored));
            }
        }
        Err(e) => {
            // One request's failure must not fail the others: commit each on its own.
            tracing::warn!(error = %e, "statement writer: group commit failed; committing one request at a time");
            for job in jobs {
                let one = conn.transaction::<_, QueryError, _>(|c| {
                    let stored = statements::insert_returning(c, &job.rows)?;
                    outbox::insert(c, &job.messages)?;
                    Ok(stored)
                });
                let _ = job.reply.send(one.map_err(|e| e.to_string()));
            }
        }
    }
}
