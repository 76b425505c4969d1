//! The writer: one thread that takes statements from every request, and the outbox senders' small
//! writes (claims, marks), and commits them in groups. Agents' opt-outs arrive concurrently;
//! SQLite has one writer at a time, and making each request wait its turn on the database lock
//! (with its sleeping busy handler) wastes most of the disk's time. Here each commit carries
//! everything that arrived while the previous one was being synced — an outbox mark rides in the
//! same transaction as the statements beside it, at no extra sync — and a caller is answered only
//! after its commit is on disk.

use std::any::Any;

use chrono::NaiveDateTime;

use diesel::Connection;
use tokio::sync::{mpsc, oneshot};

use super::outbox::{self, NewMessage};
use super::statements::{self, NewStatement, StatementRow};
use super::{DbConnection, Pool, QueryError, QueryResult};
use crate::domain::Channel;

/// Requests waiting for the writer before senders are made to wait.
const QUEUE: usize = 4_096;
/// Requests in one commit at most.
const GROUP: usize = 512;

type Output = Box<dyn Any + Send>;
/// A write of its own, run inside a group's transaction; run again on its own if the group fails.
type Task = Box<dyn FnMut(&mut DbConnection) -> QueryResult<Output> + Send>;

enum Job {
    Statements {
        rows: Vec<NewStatement>,
        /// Messages the statements cause (an opt-out's confirmation), committed with them.
        messages: Vec<NewMessage>,
        /// Write the messages only if the email address of `rows` had no opt-out recorded since
        /// this time (one confirmation an address a day: a read of the index the statements'
        /// own insert touches, where a unique key would dirty a random page of its own).
        unless_since: Option<NaiveDateTime>,
        reply: oneshot::Sender<Result<Vec<StatementRow>, String>>,
    },
    Task {
        task: Task,
        reply: oneshot::Sender<Result<Output, String>>,
    },
}

/// What a job's part of a committed group gives back.
enum Done {
    Rows(Vec<StatementRow>),
    Output(Output),
}

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the writer has stopped")]
    Stopped,
    #[error("the database refused the write: {0}")]
    Database(String),
}

impl Writer {
    pub fn start(pool: Pool) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new().name("writer".into()).spawn(move || run(pool, rx))?;
        Ok(Writer { tx })
    }

    /// Record the rows of one request, and the messages they cause, atomically; returns the
    /// rows as stored, in order.
    pub async fn record(
        &self,
        rows: Vec<NewStatement>,
        messages: Vec<NewMessage>,
        unless_since: Option<NaiveDateTime>,
    ) -> Result<Vec<StatementRow>, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job::Statements { rows, messages, unless_since, reply }).await.map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?.map_err(WriteError::Database)
    }

    /// Run a small write in the next group commit, from a thread that may block (not an async
    /// task); returns what it returned once committed. It may run twice (once in a group that
    /// fails, then on its own), so it must not depend on running once.
    pub fn write_blocking<T: Send + 'static>(
        &self,
        mut f: impl FnMut(&mut DbConnection) -> QueryResult<T> + Send + 'static,
    ) -> Result<T, WriteError> {
        let (reply, answer) = oneshot::channel();
        let task: Task = Box::new(move |c| f(c).map(|t| Box::new(t) as Output));
        self.tx.blocking_send(Job::Task { task, reply }).map_err(|_| WriteError::Stopped)?;
        let out = answer.blocking_recv().map_err(|_| WriteError::Stopped)?.map_err(WriteError::Database)?;
        out.downcast::<T>().map(|b| *b).map_err(|_| WriteError::Database("a write answered with another type".into()))
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

fn fail(job: Job, error: &str) {
    match job {
        Job::Statements { reply, .. } => drop(reply.send(Err(error.to_owned()))),
        Job::Task { reply, .. } => drop(reply.send(Err(error.to_owned()))),
    }
}

fn answer(job: Job, done: Done) {
    match (job, done) {
        (Job::Statements { reply, .. }, Done::Rows(rows)) => drop(reply.send(Ok(rows))),
        (Job::Task { reply, .. }, Done::Output(out)) => drop(reply.send(Ok(out))),
        (job, _) => fail(job, "the writer mixed up its answers"),
    }
}

/// Whether a job's messages go: always, or (`unless_since`) unless its email address had an
/// opt-out recorded since then before the job's own (earlier in its group included).
fn wanted(c: &mut DbConnection, stored: &[StatementRow], unless_since: Option<NaiveDateTime>) -> QueryResult<bool> {
    let Some(since) = unless_since else { return Ok(true) };
    let Some(email) = stored.iter().find(|r| r.channel == Channel::Email) else { return Ok(true) };
    Ok(!statements::opted_out_since(c, &email.contact_key, Channel::Email, since, email.id)?)
}

fn commit_group(pool: &Pool, mut jobs: Vec<Job>) {
    let mut conn = match pool.get() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "writer: no database connection");
            for job in jobs {
                fail(job, &format!("no database connection: {e}"));
            }
            return;
        }
    };
    // One multi-row insert for all the group's statements (one round trip on PostgreSQL), the
    // stored rows handed back to each request in order (ids are given in insert order), then
    // each task; one commit.
    let grouped = conn.transaction::<_, QueryError, _>(|c| {
        let all: Vec<NewStatement> =
            jobs.iter().flat_map(|j| if let Job::Statements { rows, .. } = j { rows.as_slice() } else { &[] }).cloned().collect();
        // Writes first (on SQLite a transaction that reads before it writes can find its snapshot
        // stale when it comes to write, and fail at once instead of waiting).
        let mut stored = if all.is_empty() { Vec::new() } else { statements::insert_returning(c, &all)? };
        stored.sort_by_key(|r| r.id);
        let mut stored = stored.into_iter();
        let mut done = Vec::with_capacity(jobs.len());
        let mut messages: Vec<NewMessage> = Vec::new();
        for job in jobs.iter_mut() {
            done.push(match job {
                Job::Statements { rows, messages: m, unless_since, .. } => {
                    let mine: Vec<StatementRow> = stored.by_ref().take(rows.len()).collect();
                    if wanted(c, &mine, *unless_since)? {
                        messages.extend(m.iter().cloned());
                    }
                    Done::Rows(mine)
                }
                Job::Task { task, .. } => Done::Output(task(c)?),
            });
        }
        outbox::insert(c, &messages)?;
        Ok(done)
    });
    match grouped {
        Ok(done) => {
            for (job, done) in jobs.into_iter().zip(done) {
                answer(job, done);
            }
        }
        Err(e) => {
            // One request's failure must not fail the others: commit each on its own.
            tracing::warn!(error = %e, "writer: group commit failed; committing one request at a time");
            for mut job in jobs {
                let one = conn.transaction::<_, QueryError, _>(|c| match &mut job {
                    Job::Statements { rows, messages, unless_since, .. } => {
                        let stored = statements::insert_returning(c, rows)?;
                        if wanted(c, &stored, *unless_since)? {
                            outbox::insert(c, messages)?;
                        }
                        Ok(Done::Rows(stored))
                    }
                    Job::Task { task, .. } => Ok(Done::Output(task(c)?)),
                });
                match one {
                    Ok(done) => answer(job, done),
                    Err(e) => fail(job, &e.to_string()),
                }
            }
        }
    }
}
