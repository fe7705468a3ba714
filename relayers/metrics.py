"""The relay process's Prometheus metrics (prometheus-client), in one registry per process.

Names and labels are part of the operator interface (alert rules and dashboards use them):

=====================================  ======================================================
metric                                 labels, meaning
=====================================  ======================================================
xgate_messages                         route, status: messages in the store by status
xgate_queue_depth                      route: messages not yet delivered (or parked)
xgate_delivery_latency_seconds         route: source block time -> delivery final (histogram)
xgate_light_client_height              chain, source: latest header the client accepted
xgate_light_client_lag_blocks          chain, source: source head minus that height
xgate_light_client_header_age_seconds  chain, source: destination time minus that header's
xgate_light_client_trust_left_seconds  chain, source: until its trusting period ends (0: ended)
xgate_light_client_keepalive_total     chain, source: headers sent only to keep its trust
xgate_rpc_errors_total                 chain, kind: failed node requests by error class
xgate_gas_used_total                   chain, purpose: gas of our mined transactions
xgate_fees_paid_wei_total              chain, purpose: gas used x effective gas price
xgate_worker_up                        worker: 1 while the worker's last step succeeded
xgate_worker_failures_total            worker: failed steps
xgate_receivables_settled_total        chain: receivables the keeper settled
xgate_receivable_defaults_total        chain: receivables the keeper marked defaulted
xgate_receivable_failures_total        chain, action: settle / mark_default refused or failed
xgate_oldest_waiting_message_seconds   chain: age of the oldest message still to deliver there
xgate_light_client_frozen              chain, source: 1 once the client froze (misbehaviour)
xgate_route_paused                     route: 1 while the destination endpoint refuses it
xgate_signer_balance_wei               chain, signer: our signers' balances (gas money)
xgate_attester_height                  chain, attester: last final public block it scanned
xgate_attester_lag_blocks              chain, attester: the public final head minus that
=====================================  ======================================================
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from relayers.supervisor import WorkerHealth

__all__ = ["RelayMetrics"]

# Delivery latency buckets (seconds): a BFT source delivers in a few seconds; a public source
# waits for its confirmations or finality (minutes on Ethereum).
_LATENCY_BUCKETS = (1, 2, 3, 5, 8, 13, 21, 34, 60, 120, 300, 600, 1200, 1800, 3600)


class RelayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages = Gauge(
            "xgate_messages", "Messages in the store by status", ["route", "status"], registry=r
        )
        self.queue_depth = Gauge(
            "xgate_queue_depth", "Messages not yet delivered", ["route"], registry=r
        )
        self.delivery_latency = Histogram(
            "xgate_delivery_latency_seconds",
            "Source block timestamp to delivery final on the destination",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.light_client_height = Gauge(
            "xgate_light_client_height",
            "Latest source header accepted by the light client on this chain",
            ["chain", "source"],
            registry=r,
        )
        self.light_client_lag = Gauge(
            "xgate_light_client_lag_blocks",
            "Source head minus the light client's latest header",
            ["chain", "source"],
            registry=r,
        )
        self.light_client_age = Gauge(
            "xgate_light_client_header_age_seconds",
            "Destination chain time minus the light client's latest header time",
            ["chain", "source"],
            registry=r,
        )
        self.light_client_trust_left = Gauge(
            "xgate_light_client_trust_left_seconds",
            "Seconds until the light client's trusting period ends (0: only a re-anchor helps)",
            ["chain", "source"],
            registry=r,
        )
        self.light_client_keepalive = Counter(
            "xgate_light_client_keepalive",
            "Headers submitted only to keep the light client's trust alive",
            ["chain", "source"],
            registry=r,
        )
        self.rpc_errors = Counter(
            "xgate_rpc_errors", "Failed node requests", ["chain", "kind"], registry=r
        )
        self.gas_used = Counter(
            "xgate_gas_used", "Gas used by our mined transactions", ["chain", "purpose"], registry=r
        )
        self.fees_paid = Counter(
            "xgate_fees_paid_wei",
            "Fees paid by our mined transactions (wei)",
            ["chain", "purpose"],
            registry=r,
        )
        self.worker_up = Gauge(
            "xgate_worker_up", "1 while the worker is healthy", ["worker"], registry=r
        )
        self.worker_failures = Counter(
            "xgate_worker_failures", "Failed worker steps", ["worker"], registry=r
        )
        self.receivables_settled = Counter(
            "xgate_receivables_settled",
            "Receivables the keeper settled on their due date or later",
            ["chain"],
            registry=r,
        )
        self.receivable_defaults = Counter(
            "xgate_receivable_defaults",
            "Receivables the keeper marked defaulted after their grace period",
            ["chain"],
            registry=r,
        )
        self.receivable_failures = Counter(
            "xgate_receivable_failures",
            "Receivable settlements or defaults the keeper could not get mined",
            ["chain", "action"],
            registry=r,
        )
        self.oldest_waiting = Gauge(
            "xgate_oldest_waiting_message_seconds",
            "Age of the oldest message still to be delivered to this chain (0: none waiting)",
            ["chain"],
            registry=r,
        )
        self.light_client_frozen = Gauge(
            "xgate_light_client_frozen",
            "1 once the light client froze on misbehaviour evidence (governance re-anchors it)",
            ["chain", "source"],
            registry=r,
        )
        self.route_paused = Gauge(
            "xgate_route_paused",
            "1 while the destination endpoint's route (or the whole endpoint) is paused",
            ["route"],
            registry=r,
        )
        self.signer_balance = Gauge(
            "xgate_signer_balance_wei",
            "Balance of the process's signers on each chain they send on (wei)",
            ["chain", "signer"],
            registry=r,
        )
        self.attester_height = Gauge(
            "xgate_attester_height",
            "Last final public block the attester scanned for messages to attest",
            ["chain", "attester"],
            registry=r,
        )
        self.attester_lag = Gauge(
            "xgate_attester_lag_blocks",
            "The public chain's final head minus the attester's last scanned block",
            ["chain", "attester"],
            registry=r,
        )
        self._failures_seen: dict[str, int] = {}

    def set_message_counts(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Replace the per-(route, status) gauges with a fresh count from the store."""
        self.messages.clear()
        depth: dict[str, int] = {}
        for (route, status), n in counts.items():
            self.messages.labels(route, status).set(n)
            if status not in ("delivered", "already_delivered"):
                depth[route] = depth.get(route, 0) + n
        self.queue_depth.clear()
        for route, n in depth.items():
            self.queue_depth.labels(route).set(n)

    def observe_workers(self, health: Mapping[str, WorkerHealth]) -> None:
        for name, h in health.items():
            self.worker_up.labels(name).set(1 if h.ready else 0)
            seen = self._failures_seen.get(name, 0)
            if h.total_failures > seen:
                self.worker_failures.labels(name).inc(h.total_failures - seen)
            self._failures_seen[name] = h.total_failures

    def render(self) -> bytes:
        return generate_latest(self.registry)
