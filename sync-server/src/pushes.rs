//! Pushes come first: the pushes in flight on this instance, which bulk work waits for.
//!
//! A push is what a gate's kiosk waits on before it may forget its outbox; a pull (a page of the
//! feed, up to a thousand items) and a filing round are bulk work that can start a moment later
//! without anyone noticing. When a venue's network comes back and every kiosk pushes its backlog
//! at once, each push notifies the event's kiosks, and every one of them pulls: on a machine of
//! two cores those pulls and the filer took the cores the queued pushes needed. So a pull and a
//! filing round first wait until no push is in flight, for a bounded time: under a steady stream
//! of pushes they still run, late by at most that bound (docs/architecture.md).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How long a pull waits for the pushes in flight to end before it runs anyway: longer than a
/// burst of 200 kiosks' backlogs takes on two cores, so their pulls do not take the cores the
/// burst's last pushes need (docs/benchmarks.md).
pub const PULL_YIELDS_AT_MOST: Duration = Duration::from_millis(2000);

/// How long a filing round waits for the pushes in flight to end before it runs anyway.
pub const FILING_YIELDS_AT_MOST: Duration = Duration::from_secs(1);

/// The number of pushes in flight on this instance.
#[derive(Debug, Clone)]
pub struct Pushes(Arc<watch::Sender<usize>>);

impl Default for Pushes {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl Pushes {
    /// Counts a push in flight until the returned guard is dropped (answered, failed or
    /// cancelled alike).
    pub fn start(&self) -> InFlight {
        self.0.send_modify(|n| *n += 1);
        InFlight(self.0.clone())
    }

    /// How many pushes are in flight now.
    pub fn in_flight(&self) -> usize {
        *self.0.borrow()
    }

    /// Waits until no push is in flight, or `at_most`; says whether it waited the whole bound.
    pub async fn quiet(&self, at_most: Duration) -> bool {
        let mut rx = self.0.subscribe();
        tokio::time::timeout(at_most, rx.wait_for(|n| *n == 0))
            .await
            .is_err()
    }
}

/// One push in flight; dropping it ends it.
#[derive(Debug)]
pub struct InFlight(Arc<watch::Sender<usize>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bulk_work_waits_for_pushes_in_flight_but_not_longer_than_its_bound() {
        let pushes = Pushes::default();
        assert!(
            !pushes.quiet(Duration::from_secs(30)).await,
            "nothing in flight: no wait"
        );

        let first = pushes.start();
        let second = pushes.start();
        assert_eq!(pushes.in_flight(), 2);
        let waiter = tokio::spawn({
            let pushes = pushes.clone();
            async move { pushes.quiet(Duration::from_secs(30)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(first);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "one push is still in flight");
        drop(second);
        assert!(
            !waiter.await.unwrap(),
            "ended when the last push ended, not at its bound"
        );
        assert_eq!(pushes.in_flight(), 0);

        let _stuck = pushes.start();
        assert!(
            pushes.quiet(Duration::from_millis(50)).await,
            "a push that never ends holds bulk work up only for the bound"
        );
    }
}
