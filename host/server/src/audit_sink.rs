//! Audit entries written in the background, in batches.
//!
//! Every launch is audited. Appending to the hash chain is a serialised
//! write transaction, so writing one per launch would cap launches at the
//! store's commit rate; instead launches hand their entries to this sink,
//! which appends whatever has queued up in one transaction
//! (`AuditLog::append_batch`). Nothing is dropped: when the queue is full
//! the launch waits for room (backpressure), and on shutdown the sink drains
//! the queue before the process exits.

use tokio::sync::mpsc;
use zhiyun_authz::{AuditLog, NewAuditEntry};

/// Entries that may wait in memory before launches are slowed down.
const QUEUE: usize = 8192;
/// Most entries per transaction.
const BATCH: usize = 512;

#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<NewAuditEntry>,
}

impl AuditSink {
    /// Starts the writer task; it ends when every sink clone is dropped and
    /// the queue is drained (await the handle to be sure).
    pub fn start(log: AuditLog) -> (AuditSink, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<NewAuditEntry>(QUEUE);
        let writer = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                let entries = std::mem::take(&mut batch);
                let n = entries.len();
                // A failed batch is retried a few times (a busy store), then
                // logged loudly: the entries are the record of what happened.
                let mut attempt = 0;
                loop {
                    match log.append_batch(entries.clone()).await {
                        Ok(_) => break,
                        Err(e) if attempt < 5 => {
                            attempt += 1;
                            tracing::warn!(error = %e, entries = n, attempt, "audit batch failed; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt))
                                .await;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, entries = n, "could not write audit entries");
                            break;
                        }
                    }
                }
            }
        });
        (AuditSink { tx }, writer)
    }

    /// Queues an entry; waits only if the queue is full.
    pub async fn record(&self, entry: NewAuditEntry) {
        if let Err(e) = self.tx.send(entry).await {
            tracing::error!(error = %e, "the audit writer has stopped; entry not recorded");
        }
    }
}
