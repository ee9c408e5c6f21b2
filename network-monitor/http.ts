/** HTTP surface: /healthz, /metrics (Prometheus), /api/events, /api/targets, /api/impact. */
import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { EventLog } from './events.ts';
import type { ImpactEntry } from './impact.ts';
import type { TargetStatus } from './snmp/poller.ts';
import type { ProbeResult } from './probes.ts';

export interface HttpDeps {
  registry: Registry;
  events: EventLog;
  targets: () => TargetStatus[];
  impact: () => ImpactEntry[];
  probes: () => ProbeResult[];
  started: () => boolean;
}

export function createApp(d: HttpDeps): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => (d.started() ? c.json({ status: 'ok' }) : c.json({ status: 'starting' }, 503)));
  app.get('/metrics', async (c) => c.body(await d.registry.metrics(), 200, { 'content-type': d.registry.contentType }));
  app.get('/api/events', (c) => {
    const num = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
    const since = num(c.req.query('since'));
    const limit = num(c.req.query('limit'));
    if ((c.req.query('since') !== undefined && since === undefined) || (c.req.query('limit') !== undefined && limit === undefined)) {
      return c.json({ error: 'since and limit must be non-negative integers' }, 400);
    }
    const type = c.req.query('type');
    const target = c.req.query('target');
    return c.json({ events: d.events.list({ ...(since !== undefined ? { since } : {}), ...(limit !== undefined ? { limit } : {}), ...(type ? { type } : {}), ...(target ? { target } : {}) }) });
  });
  app.get('/api/targets', (c) => c.json({ targets: d.targets() }));
  app.get('/api/impact', (c) => c.json({ impact: d.impact() }));
  app.get('/api/probes', (c) => c.json({ probes: d.probes() }));
  app.notFound((c) => c.json({ error: 'not found' }, 404));
  return app;
}
