//! Prometheus metrics of the daemon, served at `GET /metrics`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Every metric the daemon exports.
pub(crate) struct Metrics {
    /// Reconcile passes run.
    pub(crate) passes: Counter,
    /// Passes that read only the changed requests (narrow), of `passes`.
    pub(crate) narrow_passes: Counter,
    /// Requests whose pipelines ran.
    pub(crate) pipeline_runs: Counter,
    /// Requests whose pipelines failed.
    pub(crate) pipeline_failures: Counter,
    /// Pushes the remote rejected because it had moved.
    pub(crate) push_rejections: Counter,
    /// Errors that stopped a sync (fetch, push, Git).
    pub(crate) sync_errors: Counter,
    /// How long passes take.
    pub(crate) pass_seconds: Histogram,
    /// Unix time of the last sync that reached the remote's state.
    pub(crate) last_success: Gauge<f64, AtomicU64>,
    /// Requests waiting for a retry.
    pub(crate) queue_depth: Gauge,
    /// 1 while this daemon holds the lease (or runs without one), else 0.
    pub(crate) leader: Gauge,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("promised");
        let metrics = Metrics {
            passes: Counter::default(),
            narrow_passes: Counter::default(),
            pipeline_runs: Counter::default(),
            pipeline_failures: Counter::default(),
            push_rejections: Counter::default(),
            sync_errors: Counter::default(),
            pass_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            last_success: Gauge::default(),
            queue_depth: Gauge::default(),
            leader: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("passes", "Reconcile passes run", metrics.passes.clone());
        registry.register(
            "narrow_passes",
            "Passes that read only the changed requests, not the whole branch",
            metrics.narrow_passes.clone(),
        );
        registry.register(
            "pipeline_runs",
            "Requests whose pipelines ran",
            metrics.pipeline_runs.clone(),
        );
        registry.register(
            "pipeline_failures",
            "Requests whose pipelines failed",
            metrics.pipeline_failures.clone(),
        );
        registry.register(
            "push_rejections",
            "Pushes rejected because the remote moved",
            metrics.push_rejections.clone(),
        );
        registry.register(
            "sync_errors",
            "Syncs stopped by an error",
            metrics.sync_errors.clone(),
        );
        registry.register(
            "pass_duration_seconds",
            "How long passes take",
            metrics.pass_seconds.clone(),
        );
        registry.register(
            "last_successful_sync_timestamp_seconds",
            "Unix time of the last sync that reached the remote's state",
            metrics.last_success.clone(),
        );
        registry.register(
            "leader",
            "1 while this daemon holds the lease (or runs without one), else 0",
            metrics.leader.clone(),
        );
        registry.register(
            "queue_depth",
            "Requests waiting for a retry",
            metrics.queue_depth.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// The Prometheus text format of every metric.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String does not fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_prometheus_text_format() {
        let metrics = Metrics::default();
        metrics.pipeline_runs.inc_by(3);
        let text = metrics.render();
        assert!(text.contains("promised_pipeline_runs_total 3"), "{text}");
        assert!(
            text.contains("# TYPE promised_pass_duration_seconds histogram"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
