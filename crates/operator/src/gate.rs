//! A gate the reconciles wait at until a watched input has been read once (the registry
//! credentials, the release channels): a reconcile before that would build without them.

use std::sync::Arc;

use tokio::sync::watch;

#[derive(Clone)]
pub struct Gate {
    rx: watch::Receiver<bool>,
    tx: Arc<watch::Sender<bool>>,
}

impl Gate {
    /// A gate, open from the start when `open`.
    pub fn new(open: bool) -> Gate {
        let (tx, rx) = watch::channel(open);
        Gate {
            rx,
            tx: Arc::new(tx),
        }
    }

    /// Opens the gate; true when it was closed until now (the first read).
    pub fn open(&self) -> bool {
        !self.tx.send_replace(true)
    }

    /// Resolves once the gate is open.
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|open| *open).await;
    }
}
