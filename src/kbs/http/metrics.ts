import { Counter, Histogram, Registry } from 'prom-client';

/*
 * Prometheus metrics on a per-server registry (tests run several servers in one process).
 */
export class KbsMetrics {
  readonly registry = new Registry();
  readonly attestations = new Counter({
    name: 'kbs_attestations_total',
    help: 'RCAR /attest outcomes',
    labelNames: ['outcome', 'tee'] as const,
    registers: [this.registry],
  });
  readonly resources = new Counter({
    name: 'kbs_resource_requests_total',
    help: 'Resource GET outcomes (released, or the error type)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'kbs_request_duration_seconds',
    help: 'Request latency by route',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
