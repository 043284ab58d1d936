//! The group-commit writer both SQL stores share: one queue, one loop, one transaction per batch.
//!
//! An fsync (SQLite) or a round trip and a commit (PostgreSQL) per write would cap the gateway
//! far below what it can verify, so writes are group-committed. Callers queue a write on a
//! bounded channel ([`QUEUE`]: beyond it they wait, which is the backpressure the load-shedding
//! layer turns into 503s). One writer takes every write that is waiting, up to the backend's
//! [`Limits`], without waiting for more (latency stays one commit), runs them in one transaction
//! through the store's [`Backend`], and only then answers each waiter: with its own result once
//! the transaction committed, or with the batch's one error when it did not. A write whose own
//! statements fail is answered with its own error and does not fail its neighbours (the backend
//! keeps it apart: a savepoint in SQLite, a retry alone in PostgreSQL).
//!
//! This module owns the batching, the answers, the commit metric and the failure reports; it
//! knows no SQL and must never answer a write before the transaction holding it has ended.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// How many writes may wait for the writer. Beyond it callers wait (bounded by the request
/// timeout), which is the backpressure the load-shedding layer then turns into 503s.
const QUEUE: usize = 4096;

/// How large one batch may grow.
pub(super) struct Limits {
    /// The most writes one transaction carries. Larger batches amortise the commit further but
    /// make the first waiter of a batch wait longer; a few hundred is past the point of
    /// diminishing gains.
    pub writes: usize,
    /// The most bytes ([`Backend::weight`]) one transaction carries. A write heavier than this
    /// goes alone; a write that would take the batch past it waits for the next one.
    pub bytes: usize,
}

/// Why a batch's transaction did not commit. In every case nothing of the batch was committed,
/// except in [`Failure::Failed`], where the commit itself may have landed unseen.
pub(super) enum Failure {
    /// The transaction could not begin (SQLite: another process held the write lock past the
    /// wait, or the file cannot be written). A warning, not a report: the store is busy or not
    /// ready, and `/readyz` says so.
    NotBegun(StoreError),
    /// The database refused the batch as a whole (PostgreSQL: an event it cannot store, a
    /// deadlock, a serialization failure): each write is tried again alone, so that one bad
    /// write cannot fail its neighbours.
    Refused(StoreError),
    /// The transaction failed, possibly during its commit: every write of the batch gets the
    /// error (an insert 503), and a provider's retry meets the unique key if it did land.
    Failed(StoreError),
}

/// What one store does for the shared writer: run a batch of its writes in one transaction.
pub(super) trait Backend: Send + 'static {
    /// The store's name in failure reports (the `store` tag).
    const NAME: &'static str;
    const LIMITS: Limits;
    /// One write, as queued.
    type Write: Send + Sync + 'static;
    /// What a write answers once its batch committed.
    type Output: Send + 'static;
    /// Work the writer does at once between batches, outside any transaction (SQLite's
    /// readiness probe, which must take the write lock on the writer's own connection).
    type Control: Send + 'static;

    /// A write's weight against [`Limits::bytes`].
    fn weight(_write: &Self::Write) -> usize {
        0
    }

    /// Runs `writes` in one transaction. `Ok` only once it committed, with one result per
    /// write, in order (a write's own error kept apart from the others'); `Err` when the
    /// transaction as a whole failed. `oldest` is when the batch's oldest write was queued.
    fn transact(
        &mut self,
        writes: &[Self::Write],
        oldest: Instant,
    ) -> impl Future<Output = Result<Vec<Result<Self::Output, StoreError>>, Failure>> + Send;

    fn control(&mut self, control: Self::Control);

    /// Lets the database go, once the last batch has been answered (`close`).
    fn close(self);
}

/// A write in the queue, with where its answer goes and when it was queued.
struct Queued<B: Backend> {
    write: B::Write,
    done: oneshot::Sender<Result<B::Output, StoreError>>,
    queued: Instant,
}

enum Job<B: Backend> {
    Write(Queued<B>),
    Control(B::Control),
    /// Finish the batch in hand, answer `Closed` to what is queued behind, and stop.
    Close(oneshot::Sender<()>),
}

/// The store's handle on its writer.
pub(super) struct Writer<B: Backend> {
    jobs: mpsc::Sender<Job<B>>,
}

impl<B: Backend> Writer<B> {
    /// Starts the writer as a task of the current runtime (a backend whose statements are
    /// async; the store itself uses [`Writer::spawn_many`]).
    #[cfg(test)]
    pub fn spawn(backend: B) -> Writer<B> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(backend, queue));
        Writer { jobs }
    }

    /// Starts the writer on a thread of its own (a backend whose statements block: SQLite). It
    /// runs each batch synchronously, so a batch costs no hop between threads per statement.
    pub fn spawn_thread(backend: B, name: &str) -> std::io::Result<Writer<B>> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        // Only waits for the queue: no timers, no sockets.
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || runtime.block_on(run(backend, queue)))?;
        Ok(Writer { jobs })
    }

    /// Starts `loops` writer loops as tasks of the current runtime, each with its own clone of
    /// `backend`, sharing one queue: while one loop's batch is in its transaction, the next
    /// loop takes the writes that came meanwhile. For a backend whose transactions can run
    /// side by side (PostgreSQL: each on its own connection, and the database commits them
    /// together); the controls a loop meets go to that loop's clone.
    pub fn spawn_many(backend: B, loops: usize) -> Writer<B>
    where
        B: Clone,
    {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let loops = loops.max(1);
        let intake = Arc::new(tokio::sync::Mutex::new(Intake {
            jobs: queue,
            carried: None,
            closing: false,
            running: loops,
            closed: None,
        }));
        for _ in 1..loops {
            tokio::spawn(run_shared(backend.clone(), Arc::clone(&intake)));
        }
        tokio::spawn(run_shared(backend, intake));
        Writer { jobs }
    }

    /// Queues `write` and waits for its answer, which comes after its batch's commit.
    pub async fn submit(&self, write: B::Write) -> Result<B::Output, StoreError> {
        let (done, answer) = oneshot::channel();
        let queued = Instant::now();
        self.send(Job::Write(Queued {
            write,
            done,
            queued,
        }))
        .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Hands the writer work to do between batches.
    pub async fn control(&self, control: B::Control) -> Result<(), StoreError> {
        self.send(Job::Control(control)).await
    }

    pub fn is_closed(&self) -> bool {
        self.jobs.is_closed()
    }

    /// Waits until the writes queued before it are answered and the writer has stopped; later
    /// writes fail with `Closed`.
    pub async fn close(&self) {
        let (done, answer) = oneshot::channel();
        if self.send(Job::Close(done)).await.is_ok() {
            let _ = answer.await;
        }
    }

    async fn send(&self, job: Job<B>) -> Result<(), StoreError> {
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)
    }
}

/// The writes one transaction carries.
struct Batch<B: Backend> {
    writes: Vec<B::Write>,
    waiters: Vec<oneshot::Sender<Result<B::Output, StoreError>>>,
    bytes: usize,
    /// When the first (oldest) write was queued.
    oldest: Option<Instant>,
}

impl<B: Backend> Batch<B> {
    fn new() -> Batch<B> {
        Batch {
            writes: Vec::new(),
            waiters: Vec::new(),
            bytes: 0,
            oldest: None,
        }
    }

    /// Adds the write, or gives it back when it would take the batch past its bytes.
    fn add(&mut self, queued: Queued<B>) -> Option<Queued<B>> {
        let bytes = self.bytes.saturating_add(B::weight(&queued.write));
        if !self.writes.is_empty() && bytes > B::LIMITS.bytes {
            return Some(queued);
        }
        self.bytes = bytes;
        self.oldest.get_or_insert(queued.queued);
        self.writes.push(queued.write);
        self.waiters.push(queued.done);
        None
    }

    fn is_full(&self) -> bool {
        self.writes.len() >= B::LIMITS.writes
    }
}

/// The writer: batches writes into transactions, one batch at a time, until closed.
async fn run<B: Backend>(mut backend: B, mut jobs: mpsc::Receiver<Job<B>>) {
    // A write that did not fit the last batch: the first of the next.
    let mut carried: Option<Queued<B>> = None;
    while let Some((batch, close)) = take_batch(&mut backend, &mut jobs, &mut carried).await {
        if let Some(oldest) = batch.oldest {
            flush(&mut backend, batch.writes, batch.waiters, oldest).await;
        }
        if let Some(done) = close {
            // Writes queued behind the close (and a carried one) are answered `Closed` as their
            // senders drop.
            jobs.close();
            backend.close();
            let _ = done.send(());
            return;
        }
    }
}

/// Waits for a job, then takes what is waiting now, without waiting for more (latency stays
/// one commit), up to the backend's limits; runs the controls met on the way. With the batch, a
/// close met in the queue (the batch ends there). `None` once the queue is closed and empty.
async fn take_batch<B: Backend>(
    backend: &mut B,
    jobs: &mut mpsc::Receiver<Job<B>>,
    carried: &mut Option<Queued<B>>,
) -> Option<(Batch<B>, Option<oneshot::Sender<()>>)> {
    let mut next = match carried.take() {
        Some(queued) => Some(Job::Write(queued)),
        None => Some(jobs.recv().await?),
    };
    let mut batch = Batch::<B>::new();
    while let Some(job) = next.take() {
        match job {
            Job::Write(queued) => {
                *carried = batch.add(queued);
                if carried.is_some() {
                    break;
                }
            }
            Job::Control(control) => backend.control(control),
            Job::Close(done) => return Some((batch, Some(done))),
        }
        if !batch.is_full() {
            next = jobs.try_recv().ok();
        }
    }
    Some((batch, None))
}

/// The queue several writer loops share ([`Writer::spawn_many`]), one taking at a time.
struct Intake<B: Backend> {
    jobs: mpsc::Receiver<Job<B>>,
    carried: Option<Queued<B>>,
    /// Set by the loop that met the close: the others stop at their next turn.
    closing: bool,
    /// Loops still running; the last to stop answers the close.
    running: usize,
    closed: Option<oneshot::Sender<()>>,
}

/// One of several writer loops: takes a batch in its turn, runs it while the others take theirs.
async fn run_shared<B: Backend>(mut backend: B, intake: Arc<tokio::sync::Mutex<Intake<B>>>) {
    loop {
        let taken = {
            let mut guard = intake.lock().await;
            let intake = &mut *guard;
            if intake.closing {
                None
            } else {
                take_batch(&mut backend, &mut intake.jobs, &mut intake.carried).await
            }
            .map(|(batch, close)| {
                if let Some(done) = close {
                    // Still holding the queue: no loop takes what came after the close.
                    intake.closing = true;
                    intake.closed = Some(done);
                    intake.jobs.close();
                }
                batch
            })
        };
        let Some(batch) = taken else { break };
        if let Some(oldest) = batch.oldest {
            flush(&mut backend, batch.writes, batch.waiters, oldest).await;
        }
    }
    backend.close();
    let mut intake = intake.lock().await;
    intake.running -= 1;
    if intake.running == 0 {
        // Every loop has answered its last batch. Writes queued behind the close are answered
        // `Closed` as the queue drops with the last loop.
        intake.closing = true;
        intake.jobs.close();
        if let Some(done) = intake.closed.take() {
            let _ = done.send(());
        }
    }
}

/// Runs a batch in one transaction and answers each waiter after it has ended.
async fn flush<B: Backend>(
    backend: &mut B,
    writes: Vec<B::Write>,
    waiters: Vec<oneshot::Sender<Result<B::Output, StoreError>>>,
    oldest: Instant,
) {
    let operations = writes.len();
    match backend.transact(&writes, oldest).await {
        Ok(results) => {
            committed(operations);
            answer(waiters, results);
        }
        Err(Failure::Refused(err)) if operations > 1 => {
            // Only PostgreSQL's writer refuses batches, and it carries inserts only.
            tracing::warn!(
                error = %err.cause(),
                operations,
                "batch insert refused; inserting one by one"
            );
            for (write, done) in writes.iter().zip(waiters) {
                let result = match backend.transact(std::slice::from_ref(write), oldest).await {
                    Ok(results) => {
                        committed(1);
                        results
                            .into_iter()
                            .next()
                            .unwrap_or(Err(StoreError::NoAnswer))
                    }
                    Err(failure) => Err(failed::<B>(failure, 1)),
                };
                let _ = done.send(result);
            }
        }
        Err(failure) => {
            let error = Arc::new(failed::<B>(failure, operations));
            for done in waiters {
                let _ = done.send(Err(StoreError::Batch(Arc::clone(&error))));
            }
        }
    }
}

/// Sends each waiter its result (a waiter left without one is answered `NoAnswer`).
fn answer<T>(
    waiters: Vec<oneshot::Sender<Result<T, StoreError>>>,
    results: Vec<Result<T, StoreError>>,
) {
    let mut results = results.into_iter();
    for done in waiters {
        let _ = done.send(results.next().unwrap_or(Err(StoreError::NoAnswer)));
    }
}

/// Counts a committed transaction of `operations` writes.
fn committed(operations: usize) {
    crate::telemetry::metrics::metrics()
        .store_commit_batch_size
        .observe(operations as f64);
}

/// Logs (and, unless the transaction never began, reports) a batch that did not commit.
fn failed<B: Backend>(failure: Failure, operations: usize) -> StoreError {
    match failure {
        Failure::NotBegun(err) => {
            tracing::warn!(error = %err.cause(), operations, "the store's write lock was not had");
            err
        }
        Failure::Refused(err) | Failure::Failed(err) => {
            tracing::error!(error = %err.cause(), operations, "store commit failed");
            crate::telemetry::report::capture(
                &format!("store commit failed: {}", err.cause()),
                sentry::Level::Error,
                &[("store", B::NAME)],
            );
            err
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::sync::Semaphore;

    use super::*;

    /// A backend whose writes are numbers weighing what they say; it keeps each transaction's
    /// writes, waits for a permit before each, and answers each write with itself.
    #[derive(Clone)]
    struct Fake {
        transactions: Arc<Mutex<Vec<Vec<usize>>>>,
        gate: Arc<Semaphore>,
        /// How a transaction of these writes fails, if it does.
        fails: fn(&[usize]) -> Option<Failure>,
    }

    impl Backend for Fake {
        const NAME: &'static str = "fake";
        const LIMITS: Limits = Limits {
            writes: 3,
            bytes: 100,
        };
        type Write = usize;
        type Output = usize;
        type Control = ();

        fn weight(write: &usize) -> usize {
            *write
        }

        async fn transact(
            &mut self,
            writes: &[usize],
            _oldest: Instant,
        ) -> Result<Vec<Result<usize, StoreError>>, Failure> {
            self.gate.acquire().await.expect("open gate").forget();
            self.transactions
                .lock()
                .expect("not poisoned")
                .push(writes.to_vec());
            match (self.fails)(writes) {
                Some(failure) => Err(failure),
                None => Ok(writes.iter().map(|w| Ok(*w)).collect()),
            }
        }

        fn control(&mut self, (): ()) {}

        fn close(self) {}
    }

    type Transactions = Arc<Mutex<Vec<Vec<usize>>>>;

    /// A writer whose first transaction waits until `gate` gets a permit, so that writes pile
    /// up behind it.
    fn writer(
        fails: fn(&[usize]) -> Option<Failure>,
    ) -> (Arc<Writer<Fake>>, Transactions, Arc<Semaphore>) {
        let transactions = Transactions::default();
        let gate = Arc::new(Semaphore::new(0));
        let writer = Writer::spawn(Fake {
            transactions: Arc::clone(&transactions),
            gate: Arc::clone(&gate),
            fails,
        });
        (Arc::new(writer), transactions, gate)
    }

    /// Submits each write in order, each queued before the next (the writer is held at its
    /// gate by the first), and returns their answers once the gate is open.
    async fn submit_all(
        writer: &Arc<Writer<Fake>>,
        gate: &Semaphore,
        writes: &[usize],
    ) -> Vec<Result<usize, StoreError>> {
        let mut answers = Vec::new();
        for &write in writes {
            let writer = Arc::clone(writer);
            answers.push(tokio::spawn(async move { writer.submit(write).await }));
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        gate.add_permits(1000);
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.expect("no panic"));
        }
        results
    }

    fn never(_: &[usize]) -> Option<Failure> {
        None
    }

    #[tokio::test]
    async fn writes_that_wait_together_share_a_transaction_up_to_the_limits() {
        let (writer, transactions, gate) = writer(never);

        let answers = submit_all(&writer, &gate, &[1, 2, 3, 4, 5, 90, 20]).await;

        assert_eq!(
            answers.into_iter().map(Result::ok).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 90, 20].map(Some)
        );
        // The first alone (the writer took it before the others came), then at most 3 writes
        // and at most 100 bytes each: 90 does not fit after 4 and 5, 20 not after 90.
        assert_eq!(
            *transactions.lock().expect("not poisoned"),
            vec![vec![1], vec![2, 3, 4], vec![5, 90], vec![20]]
        );
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_writes_with_its_one_error() {
        let (writer, _, gate) =
            writer(|writes| (writes.len() > 1).then(|| Failure::Failed(StoreError::Closed)));

        let answers = submit_all(&writer, &gate, &[1, 2, 3, 4]).await;

        assert!(answers[0].is_ok(), "alone in its transaction");
        for answer in &answers[1..] {
            let error = answer.as_ref().expect_err("the batch failed");
            assert!(
                matches!(error, StoreError::Batch(shared) if matches!(**shared, StoreError::Closed))
            );
            assert_eq!(error.to_string(), "store is shut down");
        }
    }

    #[tokio::test]
    async fn a_refused_batch_is_written_one_by_one_so_one_bad_write_fails_alone() {
        let (writer, transactions, gate) = writer(|writes| {
            writes
                .contains(&3)
                .then(|| Failure::Refused(StoreError::Closed))
        });

        let answers = submit_all(&writer, &gate, &[1, 2, 3, 4]).await;

        assert_eq!(
            answers.iter().map(Result::is_ok).collect::<Vec<_>>(),
            [true, true, false, true]
        );
        assert_eq!(
            *transactions.lock().expect("not poisoned"),
            vec![vec![1], vec![2, 3, 4], vec![2], vec![3], vec![4]]
        );
    }

    #[tokio::test]
    async fn close_answers_what_was_queued_before_it_and_refuses_what_comes_after() {
        let (writer, transactions, gate) = writer(never);
        gate.add_permits(1000);
        assert_eq!(writer.submit(7).await.ok(), Some(7));

        writer.close().await;

        assert!(writer.is_closed());
        assert!(matches!(writer.submit(8).await, Err(StoreError::Closed)));
        assert!(matches!(writer.control(()).await, Err(StoreError::Closed)));
        assert_eq!(*transactions.lock().expect("not poisoned"), vec![vec![7]]);
    }

    #[tokio::test]
    async fn with_two_loops_a_second_batch_runs_while_the_first_is_in_its_transaction() {
        let (transactions, gate) = (Transactions::default(), Arc::new(Semaphore::new(0)));
        let fake = Fake {
            transactions: Arc::clone(&transactions),
            gate: Arc::clone(&gate),
            fails: never,
        };
        let writer = Arc::new(Writer::spawn_many(fake, 2));
        let answers = submit_all(&writer, &gate, &[1, 2, 3, 4]).await;

        assert_eq!(
            answers.into_iter().map(Result::ok).collect::<Vec<_>>(),
            [1, 2, 3, 4].map(Some)
        );
        // One loop took 1 and waits at the gate, the other took 2; 3 and 4 waited together for
        // the first loop free (one loop would have run 1, then 2, 3 and 4 together).
        let mut ran = transactions.lock().expect("not poisoned").clone();
        ran.sort();
        assert_eq!(ran, vec![vec![1], vec![2], vec![3, 4]]);
        writer.close().await;
        assert!(matches!(writer.submit(5).await, Err(StoreError::Closed)));
    }
}
