import Prometheus
import Synchronization

/// The edge node's Prometheus metrics (`/metrics`), named as Prometheus asks: base units, `_total` counters, no
/// digests or other unbounded labels.
package final class EdgeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let counters = Mutex<[String: Counter]>([:])
    private let durations = Mutex<[String: DurationHistogram]>([:])
    private let inFlight: Gauge
    private let heldBytes: Gauge
    private let pinnedBytes: Gauge
    private let fetchedTotal = Mutex<UInt64>(0)
    private static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
    ]

    package init() {
        inFlight = registry.makeGauge(
            name: "pbrepo_http_in_flight_requests", labels: [], help: "Requests being answered.")
        heldBytes = registry.makeGauge(
            name: "pbrepo_cache_held_bytes", labels: [], help: "Bytes of objects and blobs the edge holds.")
        pinnedBytes = registry.makeGauge(
            name: "pbrepo_cache_pinned_bytes", labels: [],
            help: "Bytes held that are never evicted (preloaded blocks, model indexes and recipes).")
        registry.makeGauge(name: "pbrepo_build_info", labels: [("version", "0.1")], help: "pbrepo's version.")
            .set(to: 1.0)
    }

    private func counter(_ name: String, _ labels: [(String, String)], help: String) -> Counter {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        return counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = registry.makeCounter(name: name, labels: labels, help: help)
            counters[key] = counter
            return counter
        }
    }

    package func requestStarted() { inFlight.increment() }

    package func requestEnded(handler: String, method: String, status: Int, duration: Duration) {
        inFlight.decrement()
        counter(
            "pbrepo_http_requests_total", [("handler", handler), ("method", method), ("code", String(status))],
            help: "Requests answered, by handler, method and status."
        ).increment()
        let key = handler + "|" + method
        durations.withLock { durations in
            if durations[key] == nil {
                durations[key] = registry.makeDurationHistogram(
                    descriptor: MetricNameDescriptor(
                        metricName: "pbrepo_http_request_duration", unitName: "seconds",
                        helpText: "Time to answer a request, to its last byte."),
                    labels: [("handler", handler), ("method", method)], buckets: Self.buckets)
            }
            return durations[key]!
        }.record(duration)
    }

    /// Blob bytes sent to clients, by where they were when the request came: `local` (held already), `peer` or
    /// `origin` (fetched for it).
    package func served(_ bytes: UInt64, source: String) {
        counter(
            "pbrepo_blob_bytes_served_total", [("source", source)],
            help: "Blob bytes sent to clients, by where they came from."
        ).increment(by: Int64(bytes))
    }

    /// A blob request answered from what the edge held (`hit`) or after fetching (`miss`).
    package func cache(_ result: String) {
        counter(
            "pbrepo_cache_requests_total", [("result", result)], help: "Blob requests, by hit or miss."
        ).increment()
    }

    /// One fetch from a peer or the origin, and the bytes it brought.
    package func fetched(_ bytes: UInt64, from kind: String, requests: Int) {
        fetchedTotal.withLock { $0 += bytes }
        counter("pbrepo_upstream_fetches_total", [("upstream", kind)], help: "Requests to peers and the origin.")
            .increment(by: Int64(requests))
        counter("pbrepo_upstream_bytes_total", [("upstream", kind)], help: "Bytes fetched from peers and the origin.")
            .increment(by: Int64(bytes))
    }

    package func verifyFailed(stage: String) {
        counter(
            "pbrepo_verify_failures_total", [("stage", stage)], help: "Fetched bytes refused, by the check that failed."
        ).increment()
    }

    /// Bytes fetched from peers and the origin since the node started.
    package var fetchedBytes: UInt64 { fetchedTotal.withLock { $0 } }

    package func held(_ bytes: UInt64, pinned: UInt64) {
        heldBytes.set(to: Double(bytes))
        pinnedBytes.set(to: Double(pinned))
    }

    package func evicted(_ bytes: UInt64, entries: Int) {
        counter("pbrepo_cache_evictions_total", [], help: "Objects and blobs deleted to stay within the capacity.")
            .increment(by: Int64(entries))
        counter("pbrepo_cache_evicted_bytes_total", [], help: "Bytes deleted to stay within the capacity.")
            .increment(by: Int64(bytes))
    }

    package func text() -> String { registry.emitToString() }
}
