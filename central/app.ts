/**
 * The central process: warehouse, ingest from every clinic, receipts, heartbeats/fleet,
 * dictionary publication and the HTTP surface. `startCentral` is used by main.ts, demo and tests.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { DICTIONARY_NAMES, heartbeatSchema, metricNames, parseClinicSubject, subjects } from '../contracts/index.ts';
import { NatsLink } from '../contracts/runtime/nats-link.ts';
import { createLogger, handleRequestErrors, jsonOrNull, listen, loadHttps, loadNatsTls, mountOps, natsTlsOption, requestBodyLimit, securityHeaders, type Listening, type Logger } from '../contracts/runtime/index.ts';
import { centralApi } from './api.ts';
import { mountCentralImaging } from './imaging/index.ts';
import { mountCentralBackup } from './backup/index.ts';
import { mountPortal } from './portal/index.ts';
import { mountDocs } from './docs/index.ts';
import { mountUploads } from './upload/index.ts';
import { mountRetention } from './retention/index.ts';
import type { CentralConfig } from './config.ts';
import { DictionaryDistribution, recoverDictionaries } from './dictionaries/publisher.ts';
import { starterDictionaries } from './dictionaries/starter.ts';
import { mountFhir } from './fhir/index.ts';
import { mountEmpi } from './empi/index.ts';
import { mountCareTransfer } from './care-transfer/index.ts';
import { Ingest } from './ingest/consumer.ts';
import { ExchangeAvailability } from './availability/index.ts';
import { centralMetrics } from './metrics.ts';
import { openWarehouse } from './warehouse/open.ts';
import type { SqliteWarehouse } from './warehouse/sqlite.ts';
import type { Warehouse } from './warehouse/types.ts';

/** `W` is the backend `config.warehouse` selects; SQLite unless the caller says otherwise. */
export interface Central<W extends Warehouse = SqliteWarehouse> {
  config: CentralConfig;
  wh: W;
  /** The hub connection (`link.current()` is null while the hub has not answered since start). */
  link: NatsLink;
  ingest: Ingest;
  dictionaries: DictionaryDistribution;
  http: Listening;
  log: Logger;
  stop(): Promise<void>;
}

export async function startCentral<W extends Warehouse = SqliteWarehouse>(config: CentralConfig, log: Logger = createLogger('central')): Promise<Central<W>> {
  // Checked before anything opens: a wrong CA path stops the start with the setting and file named.
  const natsTls = loadNatsTls(config.natsTlsCaFile, 'natsTlsCaFile (CENTRAL_NATS_TLS_CA_FILE)');
  const https = loadHttps(config.httpsCertFile, config.httpsKeyFile, 'CENTRAL_');
  const wh = await openWarehouse(config);
  // The hub connection is made in the background: central serves its API, FHIR and portal from
  // the warehouse while the hub is unreachable (a central restarted during a hub outage had no API
  // or portal until the hub answered); ingest, receipts, heartbeats and distribution to the edges
  // start when it answers. The start waits for one attempt, so with the hub up everything is
  // attached when it returns, as before.
  const link = new NatsLink({
    ...natsTlsOption(natsTls, config.natsUrl.split(',')),
    servers: config.natsUrl.split(','), name: 'central', user: config.natsUser, pass: config.natsPassword,
    // A hub cut off by the network (no TCP reset) is noticed at the missed pings: within a minute,
    // not nats.js's default 2 min x 2 (the portal, healthz and the outage log say it meanwhile).
    reconnectTimeWait: 500, timeout: 5_000, pingInterval: 20_000, maxPingOut: 3,
  }, log, { waiting: 'central serves its API and portal from the warehouse; ingest and distribution to the edges wait for it', offline: 'no ingest from the clinics' });
  await link.firstAttempt;
  const hub = () => link.current();

  const dictionaries = new DictionaryDistribution(wh, log);
  // After a reconnection the stream and the warehouse are compared again (a version may be pending).
  link.onReconnect(() => void dictionaries.reconcileNow());
  // What the dictionaries stream holds beyond the warehouse (restored from a backup) first, when
  // the hub answers now; otherwise the reconcile at connection takes it back.
  const atStart = hub();
  if (atStart) {
    await recoverDictionaries(await jetstreamManager(atStart, { checkAPI: false }), wh, log).catch((e: Error) =>
      log.error({ err: e.message }, 'could not read the dictionaries stream at start: if this warehouse was restored from a backup, a dictionary published next may reuse a version the edges already hold; restart central once the broker answers'));
  }
  // Version 1 of each dictionary comes from the starter set.
  const existing = new Set((await wh.latestDictionaries()).map((d) => d.name));
  for (const name of DICTIONARY_NAMES) if (!existing.has(name)) await wh.saveDictionary(name, starterDictionaries[name]);

  const { registry, observe, httpMetrics, watchIngest, observeBatch, watchHub, watchAvailability, watchMaintenance } = centralMetrics(wh);
  watchHub(() => ({ connected: link.status().connected, pendingDictionaries: dictionaries.pendingNames().length }));
  // A recreated records stream may mean a wiped broker: the dictionaries go out again.
  const ingest = new Ingest(link.ready, wh, log, { onResult: observe, onBatch: observeBatch, onStreamsCreated: () => dictionaries.reconcileNow() }, config.maxBatch);
  watchIngest(ingest);

  let stopped = false;
  // Outages of each clinic's data exchange (tender 1.2.2: availability, longest outage): opened by
  // a silence, closed by the next heartbeat; the check runs whether or not the hub answers.
  const availability = new ExchangeAvailability(wh, log, config.exchangeSilenceMs, config.exchangeStallMs ?? config.exchangeSilenceMs);
  await availability.init();
  // A clinic out of service has no availability gauges (its alerts on them would fire forever).
  watchAvailability(async () => (await availability.report(new Date(Date.now() - 30 * 86400_000), new Date())).clinics.filter((c) => c.retiredAt === null));
  watchMaintenance(async () => {
    const m = await availability.inMaintenance();
    return (await wh.fleet()).map((f) => ({ clinicId: f.clinicId, active: m.all || m.clinics.has(f.clinicId), retired: availability.isRetired(f.clinicId) }));
  });
  // Before any heartbeat is heard: clinics silent since before this start (central itself was down,
  // or cut off) are in an outage from their last heartbeat, the district side's; the first
  // heartbeat of each closes it. Found by the first check instead, they would have beaten again.
  await availability.tick(false).catch((e: Error) => log.error({ err: e.message }, 'availability check at start failed'));
  let availabilityCheck: Promise<unknown> = Promise.resolve();
  const availabilityTimer = setInterval(() => {
    availabilityCheck = availability.tick(link.status().connected).catch((e: Error) => log.error({ err: e.message }, 'availability check failed'));
  }, config.exchangeCheckMs);
  availabilityTimer.unref();
  let badHeartbeats = 0;
  let hbSub: Subscription | null = null;
  /** Everything that needs the hub, once it answers (at once when it did at start). */
  // Stopped while the hub came back: attach nothing (stop() has stopped, or will stop, what did start).
  const attachHub = async (nc: NatsConnection) => {
    if (stopped) return;
    await ingest.start();
    if (stopped) return;
    await dictionaries.attach(nc);
    if (stopped) return;
    hbSub = nc.subscribe(subjects.allHeartbeats, {
      callback: (err, msg) => {
        if (err) return;
        const subjectClinic = parseClinicSubject(msg.subject);
        const hb = heartbeatSchema.safeParse(jsonOrNull(msg.data));
        if (!hb.success || hb.data.clinicId !== subjectClinic) {
          if (badHeartbeats++ % 100 === 0) log.warn({ subject: msg.subject }, 'malformed or forged heartbeat ignored');
          return;
        }
        // Answer every heartbeat with the clinic's watermark (a receipt lost while the edge was
        // disconnected is repaired within one heartbeat interval) and what central refused of it.
        const id = hb.data.clinicId;
        // A refusals read that fails costs the clinic that summary, never its receipt.
        const recorded = wh.recordHeartbeat(hb.data);
        // An outage of the clinic's data exchange ends with its first heartbeat back.
        void recorded.then(() => availability.onHeartbeat(id, new Date(), hb.data)).catch((e: Error) => log.error({ err: e.message, clinic: id }, 'availability log not updated'));
        // So are the planned maintenance windows it should know of (a failed read costs it only those).
        void recorded.then(() => Promise.all([
          wh.watermark(id),
          wh.refusals(id).catch((e: Error) => { log.warn({ err: e.message, clinic: id }, 'refusals not read for the heartbeat answer'); return undefined; }),
          availability.noticesFor(id).catch((e: Error) => { log.warn({ err: e.message, clinic: id }, 'maintenance windows not read for the heartbeat answer'); return undefined; }),
        ])).then(([w, refused, notices]) => ingest.publishReceipt(w, false, refused, notices)).catch((e: Error) => log.error({ err: e.message }, 'heartbeat not recorded'));
      },
    });
  };
  let attached: Promise<void> = Promise.resolve();
  if (atStart) await attachHub(atStart);
  else link.onReady((nc) => { attached = attachHub(nc).catch((e: Error) => log.error({ err: e.message }, 'central could not attach to the hub')); });

  const api = centralApi({
    // Request bodies capped before any route reads them; DICOM uploads (the archive's PUT, STOW-RS)
    // stream under limits of their own.
    // and every response carries the security headers (CSP, no framing, no sniffing).
    middleware: [httpMetrics, securityHeaders(), requestBodyLimit({ exempt: (method, path) => (method === 'PUT' && (path.startsWith('/archive/instances/') || path.startsWith('/archive/uploads/'))) || (method === 'POST' && path.startsWith('/api/imaging/dicomweb/studies')) })],
    wh, token: config.apiToken, availability,
    publishDictionary: (s) => dictionaries.publish(s),
    audit: (e) => wh.audit(e).catch((err: Error) => {
      log.error({ err: err.message, action: e.action }, 'audit entry not written');
      throw err; // fail closed: no data without its audit entry
    }),
  });
  handleRequestErrors(api, log, { registry, name: metricNames.central.httpErrors });
  // The image index is in the warehouse's own database; a failed imaging migration stops the start.
  const imaging = mountCentralImaging(api, { wh, dataDir: config.dataDir, uploadSecret: config.apiToken, minFree: config.imagingMinFree, registry,
    uploadKeepMs: config.imagingUploadKeepHours * 3_600_000, log });
  await imaging.index.ready();
  // FHIR R4 at /fhir (reads, searches, writes; static token or OAuth2 client tokens), clients at /api/oauth.
  const fhir = await mountFhir(api, { wh, token: config.apiToken, log, readers: config.fhirReaders });
  const mounted = [
    { stop: () => imaging.stop() },
    fhir,
    // EMPI: /api/empi (in /openapi.json), background indexing, person changes down to the edges.
    await mountEmpi(api, { wh, hub, log, audit: (e) => wh.audit(e) }),
    // Health-record migrations between clinics: offers to the receiver, decisions back (care).
    await mountCareTransfer({ wh, hub, log, registry }),
    await mountPortal(api, { config, wh, log, previews: imaging.previews, hubState: () => ({ ...link.status(), pendingDictionaries: dictionaries.pendingNames() }), availability }),
    await mountCentralBackup(api, { config, wh, log, hub }),
    await mountUploads(api, { config, wh, log, registry, audit: (e) => wh.audit(e) }),
    await mountRetention(api, { config, wh, log, audit: (e) => wh.audit(e) }),
  ];
  mountDocs(api);
  mountOps(api, registry, [
    { name: 'warehouse', check: async () => { await wh.watermark('healthz'); return { ok: true }; } },
    // Central without the hub still serves (200: the network monitor's central_http probe is
    // reachability); the detail says nothing comes in, and central_hub_connected alerts.
    { name: 'nats', check: () => { const st = link.status(); return { ok: st.detail !== 'closed', detail: st.detail }; } },
    { name: 'dictionaries', check: () => dictionaries.status() },
  ]);
  const http = await listen(api, config.httpHost, config.httpPort, https);
  log.info({ url: http.url }, 'central listening');

  return {
    // The caller's W names the backend its config selects (the default matches the default config).
    config, wh: wh as W, link, ingest, dictionaries, http, log,
    async stop() {
      if (stopped) return;
      stopped = true;
      await http.close();
      for (const m of mounted.reverse()) await m.stop();
      clearInterval(availabilityTimer);
      await availabilityCheck;
      hbSub?.unsubscribe();
      await dictionaries.stop();
      await ingest.stop();
      await attached;
      await link.close();
      await wh.close();
      log.info('central stopped');
    },
  };
}
