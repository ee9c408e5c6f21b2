/**
 * One edge agent per clinic: the store, the relay to central, receipts, dictionaries,
 * heartbeats and the local HTTP surface. `startEdgeAgent` is used by main.ts, the demo and tests.
 */
import { join } from 'node:path';
import type { Subscription } from '@nats-io/transport-node';
import { NatsLink } from '../contracts/runtime/nats-link.ts';
import { Hono } from 'hono';
import { heartbeatSchema, metricNames, receiptSchema, subjects, type Heartbeat, type MaintenanceNotice, type Refusals } from '../contracts/index.ts';
import { createLogger, handleRequestErrors, listen, loadHttps, loadNatsTls, mountOps, natsTlsOption, requestBodyLimit, securityHeaders, type Listening, type Logger } from '../contracts/runtime/index.ts';
import type { EdgeConfig } from './config.ts';
import { edgeMetrics } from './metrics.ts';
import { EdgeStore } from './store/store.ts';
import { DictionarySync } from './sync/dictionaries.ts';
import { registerFollowerMetrics } from './sync/follower.ts';
import { Relay } from './sync/relay.ts';
import { lastReseed } from './sync/reseed.ts';
import { ActivitySimulator } from './sim/activity.ts';
import { Accounts } from './web/accounts.ts';
import { edgeModules, type EdgeModuleHandle } from './modules.ts';
import { mountWeb } from './web/app.tsx';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';

export const AGENT_VERSION = '0.1.0';

export interface EdgeAgent {
  config: EdgeConfig;
  accounts: Accounts;
  store: EdgeStore;
  relay: Relay;
  /** The hub connection, made in the background (the agent does not wait for it). */
  nats: NatsLink;
  http: Listening;
  log: Logger;
  heartbeat(): Heartbeat;
  stop(): Promise<void>;
}

export async function startEdgeAgent(config: EdgeConfig, log: Logger = createLogger(`edge-${config.clinicId}`)): Promise<EdgeAgent> {
  // Checked before anything opens: a wrong CA path stops the start with the setting and file named.
  const natsTls = loadNatsTls(config.natsTlsCaFile, 'natsTlsCaFile (EDGE_NATS_TLS_CA_FILE)');
  const https = loadHttps(config.httpsCertFile, config.httpsKeyFile, 'EDGE_');
  const store = new EdgeStore(join(config.dataDir, 'edge.db'), config.clinicId, edgeModules.flatMap((m) => m.migrations ?? []));
  log.info({ clinicId: config.clinicId, dataDir: config.dataDir, ...store.stats() }, 'edge store open');

  // Never give up reconnecting: the clinic works offline and catches up when the network returns.
  // The agent does not wait for the hub: a clinic restarted during an outage opens at once
  // (contracts/runtime/nats-link.ts); what needs the connection starts when the hub answers.
  const nats = new NatsLink({
    ...natsTlsOption(natsTls, config.natsUrl.split(',')),
    servers: config.natsUrl.split(','),
    name: `edge-${config.clinicId}`,
    user: config.natsUser,
    pass: config.natsPassword,
    inboxPrefix: subjects.inboxPrefix(config.clinicId),
    reconnectTimeWait: 500,
    timeout: 5_000,
  }, log);
  // One attempt's worth of waiting (refused at once, or the connect timeout): connected on return
  // when the hub answers, offline otherwise.
  await nats.firstAttempt;

  const relay = new Relay(store, nats.ready, log, {
    window: config.relayWindow,
    resendAfterMs: config.resendAfterMs,
    receiptRegressionGraceMs: config.receiptRegressionGraceMs,
    // Publishing runs in a worker thread with its own connection as the same NATS user.
    connection: { servers: config.natsUrl.split(','), name: `edge-${config.clinicId}-relay`, user: config.natsUser, pass: config.natsPassword, inboxPrefix: subjects.inboxPrefix(config.clinicId), ...(natsTls ? { tls: natsTls } : {}) },
  });
  /** What central refused of this clinic's messages, as its latest answer to a heartbeat said. */
  let refused: Refusals | null = null;
  /** Central's planned maintenance windows for this clinic, as its latest answer to a heartbeat said (kept in the store across restarts). */
  let notices: MaintenanceNotice[] = store.maintenanceNotices();
  let receiptSub: Subscription | null = null;
  nats.onReady((nc) => { receiptSub = nc.subscribe(subjects.receipt(config.clinicId), {
    callback: (err, msg) => {
      if (err) return;
      try {
        const r = receiptSchema.parse(msg.json());
        if (r.clinicId !== config.clinicId) return;
        if (r.refused) {
          if (r.refused.count > (refused?.count ?? 0)) log.warn({ refused: r.refused.count, last: r.refused.last }, 'central refused records of this clinic (see the home page)');
          refused = r.refused;
        }
        if (r.maintenance && JSON.stringify(r.maintenance) !== JSON.stringify(notices)) {
          notices = r.maintenance;
          store.saveMaintenanceNotices(notices);
          log.info({ windows: notices.length }, 'planned maintenance windows from central');
        }
        relay.onReceipt(r.appliedSeq, r.replaying === true);
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'malformed receipt ignored');
      }
    },
  }); });
  relay.start();

  const dicts = new DictionarySync(store, nats.ready, log);
  dicts.start();

  const heartbeat = (): Heartbeat => {
    const st = store.stats();
    return heartbeatSchema.parse({
      clinicId: config.clinicId,
      agentVersion: AGENT_VERSION,
      at: new Date().toISOString(),
      lastSeq: st.lastSeq,
      receiptSeq: st.receiptSeq,
      outboxDepth: st.outboxDepth,
      oldestPendingAgeSec: st.oldestPendingAt ? Math.max(0, (Date.now() - Date.parse(st.oldestPendingAt)) / 1000) : 0,
      relayState: relay.state,
      dictionaries: store.dictionaryVersions(),
    });
  };
  const sendHeartbeat = () => {
    const nc = nats.current();
    if (!nc || nc.isClosed()) return;
    try {
      nc.publish(subjects.heartbeat(config.clinicId), JSON.stringify(heartbeat()));
    } catch (e) {
      log.debug({ err: (e as Error).message }, 'heartbeat not sent');
    }
  };
  // The first one at once: central knows a freshly started edge before it writes anything
  // (fleet view; health-record transfers addressed to it are routed, not refused as unknown).
  sendHeartbeat();
  nats.onReady(() => sendHeartbeat());
  const hbTimer = setInterval(sendHeartbeat, config.heartbeatMs);

  const sim = config.simulateRate > 0 ? new ActivitySimulator(store, config.simulateRate, log) : null;
  sim?.start();

  const registry = edgeMetrics(store, () => relay);
  registerFollowerMetrics(registry, dicts.follower);
  const app = new Hono();
  handleRequestErrors(app, log, { registry, name: metricNames.edge.httpErrors });
  // Request bodies (forms, JSON) capped before any route reads them.
  app.use('*', requestBodyLimit());
  // CSP, no framing, no sniffing on every response (pages, API, images).
  app.use('*', securityHeaders());
  mountOps(app, registry, [
    { name: 'store', check: () => ({ ok: store.db.open }) },
    // Not reached yet is a clinic working offline, not an unhealthy edge (the monitor probes /healthz).
    { name: 'nats', check: () => { const s = nats.status(); return { ok: s.detail !== 'closed', detail: `${s.detail}; relay ${relay.state}` }; } },
    // Names parked dictionary snapshots (sync_dead_letter); unhealthy only while the follower is blocked.
    { name: 'dictionaries', check: () => dicts.follower.health() },
    // Modules start after the ops routes exist; their health is looked up lazily.
    { name: 'modules', check: () => {
      const bad = started.map((s) => ({ n: s.name, h: s.handle.health?.() })).filter((x) => x.h && !x.h.ok);
      return { ok: bad.length === 0, detail: bad.map((x) => `${x.n}: ${x.h!.detail ?? 'unhealthy'}`).join('; ') || undefined };
    } },
  ]);
  const accounts = new Accounts(store.db);
  if (accounts.count() === 0) {
    // First start: one administrator. A generated password goes to a 0600 file, never to the log.
    const password = config.adminPassword ?? `Ad-${randomBytes(9).toString('base64url')}`;
    accounts.create({ username: 'admin', displayName: '系统管理员', role: 'clinic_admin', password, mustChangePassword: !config.adminPassword }, 'system', 'local');
    if (!config.adminPassword) {
      const f = join(config.dataDir, 'initial-admin-password.txt');
      writeFileSync(f, `${password}\n`, { mode: 0o600 });
      log.warn({ file: f }, 'created the first administrator account "admin"; its password is in this file: change it after signing in');
    }
  }
  // From here on every audit entry also replicates to central as an `audit_event` record
  // (the first-start bootstrap above stays in the local audit_log only).
  accounts.replicateTo(store);
  const ui = mountWeb(app, {
    accounts,
    clinicName: config.clinicName,
    nav: edgeModules.flatMap((m) => m.nav ?? []),
    status: () => ({ hb: heartbeat(), lastReceiptAt: relay.lastReceiptAt ? new Date(relay.lastReceiptAt).toISOString() : null, refused, maintenance: notices }),
    reseed: {
      view: () => ({ regressed: relay.centralRegressed, centralSeq: relay.centralBehindAt, held: relay.heldReceipt, last: lastReseed(store) }),
      regressed: () => relay.centralRegressed,
      run: () => relay.reseed(),
    },
  });
  const started: { name: string; handle: EdgeModuleHandle }[] = [];
  for (const m of edgeModules) {
    started.push({ name: m.name, handle: await m.start({ config, store, accounts, app, ui, registry, nc: nats.ready, log: log.child({ module: m.name }) }) });
  }
  app.get('/api/status', (c) => c.json({
    ...heartbeat(), lastReceiptAt: relay.lastReceiptAt ? new Date(relay.lastReceiptAt).toISOString() : null, relay: relay.counters,
    // CentralLostAppliedRecords and what a re-seed would cover (the 数据同步 page offers it to the clinic admin).
    centralRegressed: relay.centralRegressed, centralBehindAt: relay.centralBehindAt, lastReseed: lastReseed(store),
    // Central's dead letters of this clinic (null until central answered a heartbeat).
    refusedByCentral: refused,
    // Central's planned maintenance windows for this clinic (its own and every clinic's), as its last heartbeat answer said.
    maintenance: notices,
  }));
  const http = await listen(app, config.httpHost, config.httpPort, https);
  log.info({ url: http.url }, 'edge agent listening');

  let stopped = false;
  return {
    config, accounts, store, relay, nats, http, log, heartbeat,
    async stop() {
      if (stopped) return;
      stopped = true;
      sim?.stop();
      clearInterval(hbTimer);
      for (const m of started.reverse()) await m.handle.stop().catch((e: Error) => log.error({ module: m.name, err: e.message }, 'module stop failed'));
      await http.close();
      await relay.stop();
      await dicts.stop();
      receiptSub?.unsubscribe();
      await nats.close();
      try { accounts.flush(); } catch (e) { log.error({ err: (e as Error).message }, 'audit flush at shutdown failed'); }
      store.close();
      log.info('edge agent stopped');
    },
  };
}
