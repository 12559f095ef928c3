//! After an outage of the API server, every Tenant is reconciled once, as client-go's informers do
//! on a relist: a watch that resumes from its resourceVersion brings no event, so without this a
//! Tenant would wait for its periodic resync (or a failed reconcile for its backoff).
//!
//! The Tenant watch reports its errors here ([`Outage::note`]). One that says the API server was
//! not reached (no HTTP answer, a 5xx or a 429) starts a look: after [`Probe::first`], one list of
//! at most one Tenant; while that fails, again after a pause that doubles up to [`Probe::max`],
//! so an outage costs one request per `max` at most. When the API server answers again after at
//! least one failed look, one "reconcile all" is sent. An error the API server answered itself
//! (403, 410, ...) is no outage, and a watch that broke once while the API server kept answering
//! (the first look succeeds) re-checks nothing: its watch resumes without a gap.
//!
//! Every watch of the operator retries with [`backoff`]: kube's default policy (0.8 s doubling
//! to 30 s), cut short when the API server answers again after an outage ([`Resumed`]). Without
//! that, a watch that failed through a minute's outage waits out a backoff of up to 30 s after
//! the API server is back, and then, when its resourceVersion is too old for the restarted
//! server (410), once more before it lists again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use futures::{Stream, StreamExt};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, DefaultBackoff, watcher};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// The pauses between looks at the API server while it does not answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    /// After the first error, before the first look.
    pub first: Duration,
    /// The longest pause; what the re-check may lag behind the API server's return.
    pub max: Duration,
    /// A look not answered by then counts as failed (a server that takes connections but does
    /// not answer must not hold the looks up).
    pub timeout: Duration,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            first: Duration::from_secs(1),
            max: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The outage state shared by the Tenant watch (which notes errors) and [`Outage::recover`].
#[derive(Clone)]
pub(crate) struct Outage {
    /// Counts the errors that said the API server was not reached.
    unreachable: Arc<watch::Sender<u64>>,
    /// Made with the sender, so errors noted before [`Outage::recover`] runs are not missed.
    seen: watch::Receiver<u64>,
    /// Counts the outages ended: the API server answered after failed looks.
    resumed: Arc<watch::Sender<u64>>,
    probe: Probe,
}

/// Tells the watches' [`backoff`] when an outage of the API server has ended.
#[derive(Clone)]
pub(crate) struct Resumed(watch::Receiver<u64>);

/// `stream` (a watch) retried as [`kube::runtime::WatchStreamExt::default_backoff`] does: after
/// an error it is polled again only after a pause (0.8 s doubling to 30 s, reset by any item
/// that is not an error), except that an outage ending during the pause ends the pause and
/// resets the backoff.
pub(crate) fn backoff<S, T, E>(
    stream: S,
    resumed: &Resumed,
) -> impl Stream<Item = Result<T, E>> + Send + use<S, T, E>
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let state = (
        stream.boxed(),
        DefaultBackoff::default(),
        resumed.0.clone(),
        None,
    );
    futures::stream::unfold(
        state,
        |(mut stream, mut policy, mut ends, pause)| async move {
            if let Some(pause) = pause {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    Ok(()) = ends.changed() => {
                        debug!("outage over: retrying the watch now");
                        policy.reset();
                    }
                }
            }
            let item = stream.next().await?;
            let pause = if item.is_err() {
                // Only an outage that ends after this error cuts its pause short.
                ends.borrow_and_update();
                policy.next()
            } else {
                policy.reset();
                None
            };
            Some((item, (stream, policy, ends, pause)))
        },
    )
}

impl Default for Outage {
    fn default() -> Self {
        Outage::new(Probe::default())
    }
}

/// A controller's own watch of `api`, for [`kube::runtime::Controller::for_stream`]: its cache
/// and the objects it touches, retried with [`backoff`]. Its errors are logged here and kept
/// from the controller, which would otherwise pause all its triggers on each one with a backoff
/// of its own that no end of an outage cuts short.
pub(crate) fn controller_watch<K>(
    api: kube::Api<K>,
    config: watcher::Config,
    resumed: &Resumed,
    what: &'static str,
) -> (
    kube::runtime::reflector::Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + use<K>,
)
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    use kube::runtime::WatchStreamExt;
    let (store, writer) = kube::runtime::reflector::store();
    let stream = backoff(watcher(api, config), resumed)
        .reflect(writer)
        .touched_objects()
        .filter_map(move |event| {
            futures::future::ready(match event {
                Ok(o) => Some(Ok(o)),
                Err(e) => {
                    debug!(error = %e, watch = what, "watch error (retrying)");
                    None
                }
            })
        });
    (store, stream)
}

impl Outage {
    pub(crate) fn new(probe: Probe) -> Outage {
        let (unreachable, seen) = watch::channel(0);
        Outage {
            unreachable: Arc::new(unreachable),
            seen,
            resumed: Arc::new(watch::channel(0).0),
            probe,
        }
    }

    /// What the watches' [`backoff`] needs to learn that an outage ended.
    pub(crate) fn resumed(&self) -> Resumed {
        Resumed(self.resumed.subscribe())
    }

    /// Notes an error of the Tenant watch.
    pub(crate) fn note(&self, err: &watcher::Error) {
        if unreachable(err) {
            self.unreachable.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Runs until aborted: after each outage, once `probe` succeeds, sends one `()` on `all`.
    /// `probe` is one request to the API server; true when it was answered with success.
    pub(crate) async fn recover<P, F>(self, mut probe: P, all: UnboundedSender<()>)
    where
        P: FnMut() -> F,
        F: Future<Output = bool>,
    {
        let mut errors = self.seen.clone();
        loop {
            if errors.changed().await.is_err() {
                return;
            }
            let since = Instant::now();
            let mut pause = self.probe.first;
            let mut failed = 0u32;
            loop {
                tokio::time::sleep(pause).await;
                if tokio::time::timeout(self.probe.timeout, probe())
                    .await
                    .unwrap_or(false)
                {
                    break;
                }
                failed = failed.saturating_add(1);
                if failed == 1 {
                    warn!(
                        retry_within = ?self.probe.max,
                        "the API server does not answer; the Tenants are re-checked once it does"
                    );
                }
                pause = pause.saturating_mul(2).min(self.probe.max);
            }
            // The errors noted until now were this outage's.
            errors.borrow_and_update();
            if failed == 0 {
                debug!("a Tenant watch failed, but the API server answers: nothing to re-check");
                continue;
            }
            info!(
                after = ?since.elapsed(),
                "the API server answers again: reconciling every Tenant once"
            );
            self.resumed.send_modify(|n| *n = n.wrapping_add(1));
            if all.unbounded_send(()).is_err() {
                return;
            }
        }
    }
}

/// Whether a watch error says the API server was not reached or could not serve: no HTTP answer
/// (connection refused or broken), a 5xx, or a 429.
fn unreachable(err: &watcher::Error) -> bool {
    let status = |code: u16| code >= 500 || code == 429;
    match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => match e {
            kube::Error::Api(s) => status(s.code),
            kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
                true
            }
            _ => false,
        },
        watcher::Error::WatchError(s) => status(s.code),
        watcher::Error::NoResourceVersion => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use futures::StreamExt;
    use futures::channel::mpsc;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..Default::default()
        }))
    }

    fn refused() -> watcher::Error {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        watcher::Error::WatchStartFailed(kube::Error::Service(Box::new(io)))
    }

    const FAST: Probe = Probe {
        first: Duration::from_millis(10),
        max: Duration::from_millis(40),
        timeout: Duration::from_millis(100),
    };

    /// The API server as the probe sees it, and how often it was asked.
    #[derive(Clone, Default)]
    struct Server {
        up: Arc<AtomicBool>,
        asked: Arc<AtomicU32>,
    }

    impl Server {
        fn probe(&self) -> impl FnMut() -> futures::future::Ready<bool> + use<> {
            let s = self.clone();
            move || {
                s.asked.fetch_add(1, Ordering::SeqCst);
                futures::future::ready(s.up.load(Ordering::SeqCst))
            }
        }
    }

    /// The number of "reconcile all" sent within `window`.
    async fn sent_within(rx: &mut mpsc::UnboundedReceiver<()>, window: Duration) -> usize {
        let mut n = 0;
        let end = tokio::time::sleep(window);
        tokio::pin!(end);
        loop {
            tokio::select! {
                got = rx.next() => match got {
                    Some(()) => n += 1,
                    None => return n,
                },
                () = &mut end => return n,
            }
        }
    }

    #[test]
    fn only_errors_without_an_answer_are_an_outage() {
        assert!(unreachable(&refused()));
        assert!(unreachable(&watcher::Error::WatchFailed(api_error(503))));
        assert!(unreachable(&watcher::Error::InitialListFailed(api_error(
            429
        ))));
        assert!(unreachable(&watcher::Error::WatchError(Box::new(
            kube::core::Status {
                code: 500,
                ..Default::default()
            }
        ))));
        for answered in [403, 404, 410] {
            assert!(!unreachable(&watcher::Error::WatchStartFailed(api_error(
                answered
            ))));
            assert!(!unreachable(&watcher::Error::WatchError(Box::new(
                kube::core::Status {
                    code: answered,
                    ..Default::default()
                }
            ))));
        }
        assert!(!unreachable(&watcher::Error::NoResourceVersion));
    }

    #[tokio::test]
    async fn one_reconcile_all_per_outage_and_no_hot_loop_during_it() {
        let outage = Outage::new(FAST);
        let server = Server::default();
        let (tx, mut rx) = mpsc::unbounded();
        let task = tokio::spawn(outage.clone().recover(server.probe(), tx));

        // Down: every watch retry notes an error; the looks slow down to one per `max`.
        for _ in 0..20 {
            outage.note(&refused());
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        assert_eq!(sent_within(&mut rx, Duration::from_millis(200)).await, 0);
        // 500 ms down: the looks at 10, 30, 70, 110, 150 ms, ... (the pause capped at 40 ms),
        // about 13; a loop without the pause would have asked thousands of times.
        let asked = server.asked.load(Ordering::SeqCst);
        assert!((2..=16).contains(&asked), "{asked} looks in 500 ms");

        // Back: exactly one reconcile all, however many errors the outage noted.
        server.up.store(true, Ordering::SeqCst);
        assert_eq!(sent_within(&mut rx, Duration::from_millis(200)).await, 1);
        let after = server.asked.load(Ordering::SeqCst);
        assert_eq!(
            sent_within(&mut rx, Duration::from_millis(100)).await,
            0,
            "a second reconcile all without a new outage"
        );
        assert_eq!(
            server.asked.load(Ordering::SeqCst),
            after,
            "looked again with no error noted"
        );

        // A second outage: once more.
        server.up.store(false, Ordering::SeqCst);
        outage.note(&refused());
        tokio::time::sleep(Duration::from_millis(60)).await;
        server.up.store(true, Ordering::SeqCst);
        assert_eq!(sent_within(&mut rx, Duration::from_millis(200)).await, 1);
        task.abort();
    }

    #[tokio::test]
    async fn a_broken_watch_while_the_server_answers_or_an_answered_error_rechecks_nothing() {
        let outage = Outage::new(FAST);
        let server = Server::default();
        server.up.store(true, Ordering::SeqCst);
        let (tx, mut rx) = mpsc::unbounded();
        let task = tokio::spawn(outage.clone().recover(server.probe(), tx));

        outage.note(&watcher::Error::WatchError(Box::new(kube::core::Status {
            code: 410,
            ..Default::default()
        })));
        outage.note(&watcher::Error::WatchStartFailed(api_error(403)));
        assert_eq!(sent_within(&mut rx, Duration::from_millis(100)).await, 0);
        assert_eq!(server.asked.load(Ordering::SeqCst), 0, "answered errors");

        outage.note(&refused());
        assert_eq!(sent_within(&mut rx, Duration::from_millis(100)).await, 0);
        assert_eq!(server.asked.load(Ordering::SeqCst), 1, "one look, answered");
        task.abort();
    }

    #[tokio::test]
    async fn a_look_left_unanswered_counts_as_failed() {
        let outage = Outage::new(FAST);
        let up = Arc::new(AtomicBool::new(false));
        let probe = {
            let up = up.clone();
            move || {
                let up = up.load(Ordering::SeqCst);
                async move {
                    // Connections taken, never answered, while "down".
                    if !up {
                        std::future::pending::<()>().await;
                    }
                    true
                }
            }
        };
        let (tx, mut rx) = mpsc::unbounded();
        let task = tokio::spawn(outage.clone().recover(probe, tx));
        outage.note(&refused());
        assert_eq!(sent_within(&mut rx, Duration::from_millis(300)).await, 0);
        up.store(true, Ordering::SeqCst);
        assert_eq!(sent_within(&mut rx, Duration::from_millis(300)).await, 1);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_backs_off_and_an_outage_that_ends_cuts_its_pause_short() {
        let outage = Outage::new(FAST);
        let items: Vec<Result<u32, u32>> = vec![
            Err(0),
            Err(1),
            Err(2),
            Err(3),
            Err(4),
            Err(5),
            Ok(6),
            Err(7),
            Ok(8),
        ];
        let mut s = Box::pin(backoff(futures::stream::iter(items), &outage.resumed()));
        // Five pauses of 0.8 s doubling (jittered upwards): at least 24.8 s.
        let start = Instant::now();
        for want in 0..6 {
            assert_eq!(s.next().await, Some(Err(want)));
        }
        assert!(
            start.elapsed() >= Duration::from_millis(24_800),
            "{:?}",
            start.elapsed()
        );
        // The sixth pause would be 25.6 s or more: the outage ends after 1 s, and the watch
        // is polled again at once.
        let ends = outage.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            ends.resumed.send_modify(|n| *n += 1);
        });
        let start = Instant::now();
        assert_eq!(s.next().await, Some(Ok(6)));
        let cut = start.elapsed();
        assert!(
            cut >= Duration::from_secs(1) && cut < Duration::from_millis(1100),
            "{cut:?}"
        );
        // An outage that ended before an error does not cut that error's pause, which starts
        // again from 0.8 s after an item that was not an error.
        outage.resumed.send_modify(|n| *n += 1);
        let start = Instant::now();
        assert_eq!(s.next().await, Some(Err(7)));
        assert_eq!(s.next().await, Some(Ok(8)));
        let pause = start.elapsed();
        assert!(
            pause >= Duration::from_millis(800) && pause < Duration::from_millis(1700),
            "{pause:?}"
        );
        assert_eq!(s.next().await, None);
    }
}
