//! The gate's background work: judging on its schedule, sagas, the SLO
//! watch and the blacklist gauge, each a loop that ends when the gate is
//! told to stop.

use std::time::Duration;

use tokio::sync::watch;

use crate::{Gate, kubernetes};

impl Gate {
    /// Runs the gate's tasks until `stop`: judging on `schedule`, sagas
    /// (at once, to finish what a previous gate left, then when woken and
    /// every few seconds), the SLO watcher every `slo_check`.
    pub async fn run_tasks(
        self,
        schedule: cron::Schedule,
        slo_check: Duration,
        stop: watch::Receiver<bool>,
    ) {
        if let Err(error) =
            trizone_store::gate::publish_thresholds(&self.db, &self.thresholds).await
        {
            tracing::warn!(%error, "cannot publish the thresholds to V1");
        }
        // What a previous gate may not have published.
        self.after_transition(kubernetes::Transition {
            reason: "Resynced",
            message: "the gate started and republished the active deployment",
            warning: false,
        })
        .await;
        tokio::join!(
            self.judge_on(schedule, stop.clone()),
            self.drive_sagas_until(stop.clone()),
            self.watch_slo_every(slo_check, stop.clone()),
            self.count_blacklist_until(stop),
        );
    }

    async fn judge_on(&self, schedule: cron::Schedule, mut stop: watch::Receiver<bool>) {
        for next in schedule.upcoming(chrono::Utc) {
            let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(wait) => {}
            }
            let result = self.judge_pending().await;
            let outcome = if result.is_ok() { "ok" } else { "error" };
            self.metrics
                .judging_passes
                .with_label_values(&[outcome])
                .inc();
            match result {
                Ok(n) => {
                    #[expect(
                        clippy::cast_precision_loss,
                        reason = "Unix seconds fit an f64 exactly"
                    )]
                    self.metrics
                        .last_judging
                        .set(chrono::Utc::now().timestamp() as f64);
                    if n > 0 {
                        tracing::info!(decided = n, "scheduled judging");
                    }
                }
                Err(error) => tracing::error!(%error, "scheduled judging failed"),
            }
        }
    }

    async fn drive_sagas_until(&self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(error) = self.drive_sagas().await {
                tracing::error!(%error, "promotion saga stopped; it resumes on the next pass");
            }
            tokio::select! {
                _ = stop.changed() => return,
                () = self.saga_wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    async fn watch_slo_every(&self, period: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(period) => {}
            }
            if let Err(error) = self.watch_slo().await {
                tracing::error!(%error, "SLO check failed");
            }
        }
    }

    async fn count_blacklist_until(&self, mut stop: watch::Receiver<bool>) {
        loop {
            self.refresh_blacklist_size().await;
            // Again after a blacklisting, and every 30 s for the ones a
            // quarantine made inside a longer transaction.
            tokio::select! {
                _ = stop.changed() => return,
                () = self.blacklist_wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    }
}
