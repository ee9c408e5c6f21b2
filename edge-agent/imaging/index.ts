/**
 * The imaging feature module of the edge agent: DICOM SCP (C-ECHO, C-STORE, Modality
 * Worklist) from `device-drivers/dicom`, index + order matching + `imaging_study` records,
 * background forwarding to the central archive, and the 影像 pages.
 */
import { randomUUID } from 'node:crypto';
import { Counter, Gauge } from 'prom-client';
import { startDicomScp, type DicomScpServer } from '../../device-drivers/dicom/index.ts';
import { devicesByStore } from '../devices/index.ts';
import { ProfileCatalog } from '../devices/profiles.ts';
import { DeviceRegistry } from '../devices/registry.ts';
import type { EdgeModule } from '../modules.ts';
import { loadImagingConfig, type ImagingConfig } from './config.ts';
import { Forwarder } from './forwarder.ts';
import { IndexWriter } from './index-writer.ts';
import { recoverUnsyncedInstances } from './recovery.ts';
import { imagingMigrations } from './migrations.ts';
import { ImagingRepo } from './repo.ts';
import { echoDevice } from './echo.ts';
import { mountImagingUi, VIEW_ROLES } from './routes.tsx';
import { PreviewRenderer } from '../../contracts/dicom/preview-pool.ts';
import { worklistProvider } from './worklist.ts';
import { mppsProvider } from './mpps.ts';
import { ReportPuller } from './reports.ts';
import { RefusalLog } from './refusals.ts';
import { ImagingStorage } from './storage.ts';
import { metricNames } from '../../contracts/index.ts';

const mn = metricNames.edge;

export interface ImagingHandle {
  config: ImagingConfig;
  scp: DicomScpServer | null;
  repo: ImagingRepo;
  forwarder: Forwarder;
  reports: ReportPuller;
  /** Refused associations kept for the technician's page. */
  refusals: RefusalLog;
  /** The image disk: free space, refusals below the reserve, eviction of uploaded instances. */
  storage: ImagingStorage;
}

/** Running imaging modules by clinic id (tests and tools look up the SCP port here). */
export const runningImaging = new Map<string, ImagingHandle>();

/** A UID under the 2.25 (UUID) root, for the StudyInstanceUID an order hands to the worklist. */
export const newUid = () => `2.25.${BigInt(`0x${randomUUID().replaceAll('-', '')}`).toString()}`;

export const imagingModule: EdgeModule = {
  name: 'imaging',
  migrations: imagingMigrations,
  nav: [{ href: '/imaging', label: { 'zh-CN': '影像', en: 'Imaging' }, roles: VIEW_ROLES }],
  async start(ctx) {
    const cfg = loadImagingConfig(ctx.config.dataDir);
    // The one device registry (devices module, started before us); its own instance if the devices module is not running.
    const devices = devicesByStore.get(ctx.store.clinicId);
    const registry = devices?.registry ?? new DeviceRegistry(ctx.store.db, ctx.accounts, new ProfileCatalog(''));
    const repo = new ImagingRepo(ctx.store.db, registry);
    const forwarder = new Forwarder(ctx.store.db, ctx.config.clinicId, cfg, ctx.log.child({ part: 'forwarder' }));
    // Rows indexed while their rename's directory fsync ran, left unchecked by a crash (recovery.ts).
    // A failure (disk) leaves the rows unmarked, so they are checked again at the next start; receiving goes on.
    await recoverUnsyncedInstances(ctx.store, ctx.log.child({ part: 'imaging-recovery' })).then(
      (r) => { if (r.checked > 0) ctx.log.info(r, 'imaging: instances indexed before a crash checked against their files'); },
      (e: Error) => ctx.log.error({ err: e.message }, 'imaging: start-up check of instances indexed before a crash failed; retried at the next start'));
    // Index transactions (and their fsyncs) in a worker thread with its own connection once two
    // associations overlap (index-writer.ts); the worker starts then, not with the agent.
    const writer = new IndexWriter(ctx.store, repo, ctx.log.child({ part: 'imaging-index' }), cfg.enabled && cfg.indexWorker !== 'off' && ctx.store.file !== ':memory:');
    if (cfg.indexWorker === 'eager' && cfg.enabled) await writer.whenReady();
    // Who tried to connect and was refused, for the technician's page (and the audit log).
    const refusals = new RefusalLog(ctx.store.db, ctx.accounts, ctx.log.child({ part: 'dicom-refusals' }));
    // The image disk: refuse below the reserve, remove what central holds when space runs low.
    // The SCP is asked through a reference set once it runs (nothing is being stored before).
    let scpRef: DicomScpServer | null = null;
    const storage = new ImagingStorage(ctx.store.db, cfg, ctx.log.child({ part: 'imaging-storage' }), (sop) => scpRef?.isStoring(sop) ?? false);
    if (cfg.enabled) {
      storage.finishInterrupted();
      await storage.start();
    }
    const dicomStored = new Counter({ name: 'device_dicom_instances_stored_total', help: 'DICOM instances stored and indexed, by modality', labelNames: ['modality'], registers: [ctx.registry] });
    const scp = cfg.enabled
      ? await startDicomScp({
        aeTitle: cfg.aeTitle,
        host: cfg.host,
        port: cfg.port,
        storageDir: cfg.storageDir,
        // The SCP checks the device's host against the peer address and its enabled flag.
        lookupDevice: (ae) => repo.deviceByAe(ae),
        // The index commit runs beside the rename's directory fsync (two flushes at once instead of
        // one after the other); the device is answered after both. Safe through recovery.ts.
        indexDuringDirSync: true,
        // With several associations receiving, the file side runs in a worker thread (the main
        // thread keeps the sockets, the index and the responses).
        storeWorker: cfg.storeWorker,
        // Below the disk reserve: 0xA700 "storage full" before any byte is written (storage.ts).
        admitStore: () => storage.admit(),
        onInstance: async (meta, renameDurable) => {
          storage.noteStored(meta.size);
          await writer.index(meta, cfg.studyRecordQuietMs, false, (scp?.counters.activeConnections ?? 0) <= 1);
          await renameDurable;
          writer.marks.add(meta.sopInstanceUid, meta.receivedAt);
          dicomStored.inc({ modality: meta.modality ?? 'OT' });
          forwarder.kick();
        },
        worklistProvider: worklistProvider(repo),
        // Devices that report their examinations (MPPS): started, completed, discontinued.
        mppsProvider: mppsProvider({ store: ctx.store, completeOrder: (tx, id) => repo.completeOrder(tx, id), log: ctx.log.child({ part: 'mpps' }) }),
        onAssociationRejected: (r) => refusals.record(r),
        log: ctx.log.child({ part: 'dicom-scp' }),
      })
      : null;
    scpRef = scp;
    // 设备管理 › 测试连接 on a DICOM device is a C-ECHO with our AE title as the calling AE.
    if (devices) devices.manager.dicomTest = (d) => echoDevice(d.connection.type === 'tcp' ? d.connection : null, d.aeTitle ?? '', cfg.aeTitle);
    if (scp && cfg.port === 0) ctx.log.warn({ port: scp.port }, 'EDGE_DICOM_PORT not set: the DICOM SCP listens on an OS-chosen port; set a fixed port for real devices');
    if (scp) ctx.log.info({ aeTitle: scp.aeTitle, host: scp.host, port: scp.port, storageDir: cfg.storageDir }, 'DICOM SCP listening');
    forwarder.start();
    const reports = new ReportPuller(ctx.store, { centralUrl: cfg.centralUrl, uploadToken: cfg.uploadToken, intervalMs: cfg.reportPullMs }, ctx.log.child({ part: 'reports' }),
      (tx, orderId, status) => repo.setOrderStatus(tx, orderId, status));
    reports.start();
    // Studies marked due (also those left by a previous run) get their record once quiet.
    const flushStudies = (quietMs: number) => writer.flushStudies(quietMs)
      .catch((e: Error) => ctx.log.error({ err: e.message }, 'imaging study records not flushed; retried on the next tick'));
    const studyTimer = setInterval(() => void flushStudies(cfg.studyRecordQuietMs), Math.max(250, Math.min(cfg.studyRecordQuietMs, 1_000)));
    studyTimer.unref();
    // Thumbnails are decoded in a thread of their own (a compressed DR frame takes up to seconds).
    const previews = new PreviewRenderer({ onThreadError: (e) => ctx.log.warn({ event: 'imaging.preview.thread', err: e.message }, 'preview thread stopped; the next preview starts a new one') });
    mountImagingUi(ctx, { repo, scp: () => scp, aeTitle: cfg.aeTitle, forwarder, reports, newStudyUid: newUid, previews, refusals, storage, central: { url: cfg.centralUrl, token: cfg.uploadToken } });

    // Association outcomes read from the SCP's counters at scrape time (dashboards: device health).
    let lastAssoc = { accepted: 0, rejected: 0, aborted: 0 };
    new Counter({ name: 'device_dicom_associations_total', help: 'DICOM associations by result', labelNames: ['result'], registers: [ctx.registry], collect() {
      if (!scp) return;
      const now = { accepted: scp.counters.associationsAccepted, rejected: scp.counters.associationsRejected, aborted: scp.counters.aborts };
      for (const k of ['accepted', 'rejected', 'aborted'] as const) if (now[k] > lastAssoc[k]) this.inc({ result: k }, now[k] - lastAssoc[k]);
      lastAssoc = now;
    } });
    new Counter({ name: 'device_dicom_associations_rejected_total', help: 'DICOM associations rejected, by reason (unknown-ae, host-mismatch, disabled, called-ae, limit, unavailable)', labelNames: ['reason'], registers: [ctx.registry], collect() {
      this.reset();
      if (!scp) return;
      const c = scp.counters;
      this.inc({ reason: 'unknown-ae' }, c.rejectedUnknownAe);
      this.inc({ reason: 'host-mismatch' }, c.rejectedHostMismatch);
      this.inc({ reason: 'disabled' }, c.rejectedDisabled);
      this.inc({ reason: 'called-ae' }, c.rejectedCalledAe);
      this.inc({ reason: 'limit' }, c.rejectedLimit);
      this.inc({ reason: 'unavailable' }, c.rejectedUnavailable);
    } });
    new Counter({ name: 'device_dicom_mpps_total', help: 'Modality Performed Procedure Step messages (N-CREATE, N-SET) from the devices, by result (ok; refused: duplicate, unknown or ended step, undefined status, or not recorded)', labelNames: ['result'], registers: [ctx.registry], collect() {
      this.reset();
      if (!scp) return;
      this.inc({ result: 'ok' }, scp.counters.mppsOk);
      this.inc({ result: 'refused' }, scp.counters.mppsFailed);
    } });
    new Gauge({ name: mn.imagingForwardPending, help: 'Instances waiting to be uploaded to the central archive', registers: [ctx.registry], collect() { this.set(repo.forwardStats().pending); } });
    new Counter({ name: 'edge_imaging_previews_total', help: 'Thumbnails asked for, by outcome (rendered, unsupported: syntax or corrupt frame, failed, timed_out, busy)', labelNames: ['outcome'], registers: [ctx.registry], collect() {
      this.reset();
      const st = previews.stats;
      this.inc({ outcome: 'rendered' }, st.rendered);
      this.inc({ outcome: 'unsupported' }, st.unsupported);
      this.inc({ outcome: 'failed' }, st.failed);
      this.inc({ outcome: 'timed_out' }, st.timedOut);
      this.inc({ outcome: 'busy' }, st.refusedBusy);
    } });
    const disk = (pick: (st: ReturnType<typeof storage.status>) => number | null) => function (this: Gauge) {
      const v = pick(storage.status());
      if (v === null) this.reset();
      else this.set(v);
    };
    new Gauge({ name: mn.imagingDiskFree, help: 'Free space on the image disk (EDGE_DICOM_STORAGE_DIR), as the SCP counts it', registers: [ctx.registry], collect: disk((st) => st.free) });
    new Gauge({ name: mn.imagingDiskSize, help: 'Size of the file system holding the image store', registers: [ctx.registry], collect: disk((st) => st.total) });
    new Gauge({ name: mn.imagingDiskReserve, help: 'Free space kept for the rest of the appliance: new instances are refused below it', registers: [ctx.registry], collect: disk((st) => st.reserve) });
    new Gauge({ name: mn.imagingDiskEvictBelow, help: 'Below this much free space, instances the central archive holds are removed from this disk', registers: [ctx.registry], collect: disk((st) => st.evictBelow) });
    new Gauge({ name: mn.imagingLocalBytes, help: 'Bytes of instances on this disk, by state (pending: waiting for upload, the only copy; uploaded: also at central)', labelNames: ['state'], registers: [ctx.registry], collect() {
      const t = storage.totals();
      this.set({ state: 'pending' }, t.pending.bytes);
      this.set({ state: 'uploaded' }, t.local.bytes);
    } });
    new Gauge({ name: mn.imagingEvicted, help: 'Instances removed from this disk because the central archive holds them (previews come from central)', registers: [ctx.registry], collect() { this.set(storage.totals().evicted.n); } });
    new Counter({ name: mn.dicomNoSpace, help: 'C-STOREs refused or failed for lack of disk space (below the reserve, or the disk full): the device keeps the image and resends it', registers: [ctx.registry], collect() {
      this.reset();
      if (scp) this.inc(scp.counters.storesNoSpace);
    } });
    new Gauge({ name: 'edge_imaging_forward_uploaded', help: 'Instances uploaded since start', registers: [ctx.registry], collect() { this.set(forwarder.counters.uploaded); } });
    const handle: ImagingHandle = { config: cfg, scp, repo, forwarder, reports, refusals, storage };
    runningImaging.set(ctx.config.clinicId, handle);
    return {
      async stop() {
        runningImaging.delete(ctx.config.clinicId);
        if (devices) devices.manager.dicomTest = undefined;
        await scp?.close();
        await storage.stop();
        refusals.close();
        clearInterval(studyTimer);
        await flushStudies(0);
        await writer.stop();
        await forwarder.stop();
        await reports.stop();
        await previews.close();
        ctx.registry.removeSingleMetric('edge_imaging_previews_total');
        ctx.registry.removeSingleMetric(mn.imagingForwardPending);
        ctx.registry.removeSingleMetric('edge_imaging_forward_uploaded');
        for (const m of [mn.imagingDiskFree, mn.imagingDiskSize, mn.imagingDiskReserve, mn.imagingDiskEvictBelow, mn.imagingLocalBytes, mn.imagingEvicted, mn.dicomNoSpace]) ctx.registry.removeSingleMetric(m);
        ctx.registry.removeSingleMetric('device_dicom_associations_total');
        ctx.registry.removeSingleMetric('device_dicom_associations_rejected_total');
        ctx.registry.removeSingleMetric('device_dicom_instances_stored_total');
      },
      health: () => (cfg.enabled && !scp ? { ok: false, detail: 'DICOM SCP not running' } : { ok: true }),
    };
  },
};

