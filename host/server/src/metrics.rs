//! Prometheus metrics: per-app invocations, errors by kind, latency, and
//! HTTP requests. Served as text at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub invocations: IntCounterVec,
    pub errors: IntCounterVec,
    pub duration: HistogramVec,
    pub http_requests: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let invocations = IntCounterVec::new(
            Opts::new(
                "zhiyun_app_invocations_total",
                "App invocations, by app and kind",
            ),
            &["app", "kind"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "zhiyun_app_errors_total",
                "Failed app invocations, by app and error (timeout, memory, trap, app-error …)",
            ),
            &["app", "error"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "zhiyun_app_duration_seconds",
                "Wall time of an app invocation in the sandbox",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["app"],
        )
        .expect("valid metric");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "zhiyun_http_requests_total",
                "HTTP requests, by method and status",
            ),
            &["method", "status"],
        )
        .expect("valid metric");
        for c in [&invocations, &errors, &http_requests] {
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
        }
        registry
            .register(Box::new(duration.clone()))
            .expect("unique metric");
        Self {
            registry,
            invocations,
            errors,
            duration,
            http_requests,
        }
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding metrics to a Vec cannot fail");
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
