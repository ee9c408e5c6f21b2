/**
 * Demo: nats-server (with per-clinic users), central, two clinic edge agents with synthetic
 * activity, printing where to look. State lives in .demo/ (pass --fresh to start over).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { centralUser, clinicUser, hashPassword, renderAuthorization } from '../provisioning/nats.ts';
import { hubTlsBlock } from '../provisioning/render.ts';
import { caProblem, createCa, issueServerCert, serverCertProblem, type Pem } from '../provisioning/tls.ts';
import { clinicToken } from '../contracts/clinic-token.ts';
import { startNetworkMonitor, type NetworkMonitorHandle } from '../network-monitor/index.ts';
import { startSnmpd, type SnmpdHandle } from '../test/helpers/snmpd.ts';
import { builtinProfile, startSimulator } from '../device-drivers/index.ts';
import { pino } from 'pino';
import { writeInstance } from '../test/imaging/fixtures.ts';
import { gib, readDisk } from '../contracts/runtime/disk.ts';

const ROOT = resolve(import.meta.dirname, '..');
const DIR = join(ROOT, '.demo');
if (process.argv.includes('--fresh')) rmSync(DIR, { recursive: true, force: true });
mkdirSync(join(DIR, 'logs'), { recursive: true });

const CLINICS = [
  { id: 'c01-xinhua', name: '新华社区卫生服务中心' },
  { id: 's01-heping', name: '和平社区卫生服务站' },
];
const children: ChildProcess[] = [];
const disposers: (() => Promise<void>)[] = [];
const step = (n: number, total: number, msg: string) => console.log(`[demo ${n}/${total}] ${msg}`);

async function freePort(preferred: number): Promise<number> {
  const tryPort = (p: number) => new Promise<number | null>((res) => {
    const s = createServer();
    s.once('error', () => res(null));
    s.listen(p, '127.0.0.1', () => { const got = (s.address() as { port: number }).port; s.close(() => res(got)); });
  });
  return (await tryPort(preferred)) ?? (await tryPort(0))!;
}

/** Secrets are generated once and kept in .demo/secrets.json (mode 0600). */
function secrets(): Record<string, string> {
  const f = join(DIR, 'secrets.json');
  if (existsSync(f)) return JSON.parse(readFileSync(f, 'utf8')) as Record<string, string>;
  const s: Record<string, string> = { central: randomBytes(12).toString('hex'), apiToken: randomBytes(16).toString('hex') };
  for (const c of CLINICS) {
    s[c.id] = randomBytes(12).toString('hex');
    s[`${c.id}-admin`] = `Demo-${randomBytes(6).toString('hex')}`;
    s[`${c.id}-staff`] = `Staff-${randomBytes(5).toString('hex')}`;
  }
  writeFileSync(f, JSON.stringify(s, null, 2), { mode: 0o600 });
  return s;
}

function run(name: string, args: string[], env: Record<string, string>, readyLine?: RegExp): Promise<string> {
  const log = createWriteStream(join(DIR, 'logs', `${name}.log`), { flags: 'a' });
  const child = spawn(args[0]!, args.slice(1), { cwd: ROOT, env: { ...process.env, EXIT_WITH_PARENT_PID: String(process.pid), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.stderr!.pipe(log);
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${name} did not start in 30 s: see .demo/logs/${name}.log`)), 30_000);
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (l) => {
      log.write(l + '\n');
      if (!readyLine || readyLine.test(l)) { clearTimeout(timer); res(l); }
    });
    child.once('exit', (code) => { clearTimeout(timer); rej(new Error(`${name} exited with code ${code}: see .demo/logs/${name}.log`)); });
    if (!readyLine) { clearTimeout(timer); res(''); }
  });
}

interface WorklistItem { name: string; patientId: string; accession: string; studyUid: string }

/** Today's US items of a clinic's Modality Worklist, asked as a device would (findscu -W), read with dcmdump. */
async function queryWorklist(out: string, callingAe: string, calledAe: string, port: number): Promise<WorklistItem[]> {
  mkdirSync(out, { recursive: true });
  const today = new Date().toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' }).replaceAll('-', '');
  const keys = ['PatientName', 'PatientID', 'AccessionNumber', 'StudyInstanceUID', 'ScheduledProcedureStepSequence[0].Modality=US', `ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=${today}`];
  const ok = await runToEnd(['findscu', '-W', '-aet', callingAe, '-aec', calledAe, '-X', '-od', out, ...keys.flatMap((k) => ['-k', k]), '127.0.0.1', String(port)], {}).then(() => true, () => false);
  if (!ok) return [];
  const items: WorklistItem[] = [];
  for (const f of readdirSync(out).sort()) {
    const dump = await runToEnd(['dcmdump', '+U8', join(out, f)], {}).catch(() => '');
    const tag = (t: string) => new RegExp(`^\\(${t}\\) \\w\\w \\[([^\\]]*)\\]`, 'm').exec(dump)?.[1] ?? '';
    const item = { name: tag('0010,0010'), patientId: tag('0010,0020'), accession: tag('0008,0050'), studyUid: tag('0020,000d') };
    if (item.accession && item.studyUid) items.push(item);
  }
  return items.sort((a, b) => a.accession.localeCompare(b.accession));
}

/**
 * The demo hub's TLS: a district CA and the hub's certificate for 127.0.0.1 in .demo/tls, made
 * with provisioning's openssl helpers and kept across restarts while valid. Returns the CA file.
 */
function demoTls(): string {
  const dir = join(DIR, 'tls');
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const read = (n: string) => (existsSync(f(n)) ? readFileSync(f(n), 'utf8') : null);
  let ca: Pem | null = read('ca.crt') && read('ca.key') ? { cert: read('ca.crt')!, key: read('ca.key')! } : null;
  if (!ca || caProblem(ca)) {
    ca = createCa('Demo District Health Network CA');
    writeFileSync(f('ca.key'), ca.key, { mode: 0o600 });
    writeFileSync(f('ca.crt'), ca.cert);
  }
  const hub = read('hub.crt') && read('hub.key') ? { cert: read('hub.crt')!, key: read('hub.key')! } : null;
  if (!hub || serverCertProblem(ca.cert, hub, ['127.0.0.1'])) {
    const h = issueServerCert(ca, ['127.0.0.1', 'localhost'], 'nats-hub');
    writeFileSync(f('hub.key'), h.key, { mode: 0o600 });
    writeFileSync(f('hub.crt'), h.cert);
  }
  return f('ca.crt');
}

/**
 * The image disks' thresholds for this demo. On a machine with room, the products' defaults (a
 * clinic refuses images below 1 GiB free, central refuses uploads below 2 GiB). On a nearly full
 * disk the demo would show every image refused, so it lowers them for its own processes and says so.
 */
async function imagingDiskEnv(): Promise<{ edge: Record<string, string>; central: Record<string, string> }> {
  const d = await readDisk(DIR).catch(() => null);
  if (!d || d.free >= 4 * 1024 ** 3) return { edge: {}, central: {} };
  console.log(`[demo] only ${gib(d.free)} free on the disk of ${DIR}: the clinics would refuse images below 1 GiB free (EDGE_DICOM_DISK_RESERVE) and central uploads below 2 GiB (CENTRAL_IMAGING_MIN_FREE).`
    + ' For this demo they are lowered to 64 MiB (clinics; uploaded images removed below 256 MiB) and 128 MiB (central). Free space before real use.');
  return { edge: { EDGE_DICOM_DISK_RESERVE: '64M', EDGE_DICOM_EVICT_BELOW_FREE: '256M' }, central: { CENTRAL_IMAGING_MIN_FREE: '128M' } };
}

async function main() {
  const total = 6;
  const sec = secrets();
  const diskEnv = await imagingDiskEnv();
  for (const c of CLINICS) sec[`${c.id}-staff`] ??= `Staff-${randomBytes(5).toString('hex')}`;
  writeFileSync(join(DIR, 'secrets.json'), JSON.stringify(sec, null, 2), { mode: 0o600 });
  const natsPort = await freePort(14222);
  step(1, total, `nats-server with JetStream on 127.0.0.1:${natsPort}, one user per clinic, TLS with a demo district CA`);
  const caFile = demoTls();
  const natsConf = join(DIR, 'nats.conf');
  const users = [centralUser(hashPassword(sec.central!)), ...CLINICS.map((c) => clinicUser(c.id, hashPassword(sec[c.id]!)))];
  writeFileSync(natsConf, `listen: "127.0.0.1:${natsPort}"\nmax_payload: 8MB\njetstream { store_dir: "${join(DIR, 'nats')}" }\n${hubTlsBlock(join(DIR, 'tls'))}${renderAuthorization(users)}`, { mode: 0o600 });
  const bin = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p)) ?? 'nats-server';
  void run('nats-server', [bin, '-c', natsConf], {});
  await waitTcp(natsPort);
  const natsUrl = `nats://127.0.0.1:${natsPort}`;

  step(2, total, 'central (warehouse, ingest, dictionaries, fleet API)');
  const centralPort = await freePort(18080);
  const centralEnv = {
    CENTRAL_DATA_DIR: join(DIR, 'central'), CENTRAL_NATS_URL: natsUrl, CENTRAL_NATS_USER: 'central', CENTRAL_NATS_PASSWORD: sec.central!, CENTRAL_NATS_TLS_CA_FILE: caFile,
    CENTRAL_API_TOKEN: sec.apiToken!, CENTRAL_HTTP_PORT: String(centralPort), ...diskEnv.central,
  };
  const centralLine = await run('central', [process.execPath, '--import', 'tsx', 'central/main.ts'], centralEnv, /"ready":true/);
  const centralUrl = (JSON.parse(centralLine) as { url: string }).url;
  // The managers' portal: the demo district (12 centres, 15 stations, teams) and its first
  // administrator (password + TOTP; the secret is kept in .demo/portal.json for scripts/totp.ts).
  const portalFile = join(DIR, 'portal.json');
  let portal = existsSync(portalFile) ? JSON.parse(readFileSync(portalFile, 'utf8')) as { username: string; password: string; secret: string; uri: string; radiologist?: { username: string; password: string; secret: string } } : null;
  try {
    await runToEnd([process.execPath, '--import', 'tsx', 'central/portal/setup.ts', 'seed-demo'], centralEnv);
    if (!portal) {
      const password = `Portal-${randomBytes(6).toString('hex')}`;
      const out = await runToEnd([process.execPath, '--import', 'tsx', 'central/portal/setup.ts', 'admin', 'admin', '区卫健局管理员'], { ...centralEnv, PORTAL_ADMIN_PASSWORD: password });
      portal = { username: 'admin', password, secret: /TOTP secret: (\S+)/.exec(out)?.[1] ?? '', uri: /otpauth URI: (\S+)/.exec(out)?.[1] ?? '' };
      writeFileSync(portalFile, JSON.stringify(portal, null, 2), { mode: 0o600 });
    }
    if (!portal.radiologist) {
      // The district hospital's radiologist (影像诊断医师): reads the clinics' studies and reports in 远程阅片.
      const password = `Reader-${randomBytes(6).toString('hex')}`;
      const out = await runToEnd([process.execPath, '--import', 'tsx', 'central/portal/setup.ts', 'user', 'radiologist', 'radiologist', 'district', '区人民医院 王影像'], { ...centralEnv, PORTAL_USER_PASSWORD: password });
      portal.radiologist = { username: 'radiologist', password, secret: /TOTP secret: (\S+)/.exec(out)?.[1] ?? '' };
      writeFileSync(portalFile, JSON.stringify(portal, null, 2), { mode: 0o600 });
    }
  } catch (e) {
    console.log(`[demo] portal not set up: ${(e as Error).message}`);
  }

  step(3, total, `${CLINICS.length} clinic edge agents with simulated activity`);
  const edgeUrls: string[] = [];
  const hl7Ports: number[] = [];
  const dicomPorts: number[] = [];
  for (const [i, c] of CLINICS.entries()) {
    const port = await freePort(18081 + i);
    const hl7Port = await freePort(12575 + i);
    hl7Ports.push(hl7Port);
    const dicomPort = await freePort(11112 + i);
    dicomPorts.push(dicomPort);
    const line = await run(`edge-${c.id}`, [process.execPath, '--import', 'tsx', 'edge-agent/main.ts'], {
      EDGE_CLINIC_ID: c.id, EDGE_CLINIC_NAME: c.name, EDGE_DATA_DIR: join(DIR, c.id), EDGE_NATS_URL: natsUrl, EDGE_NATS_TLS_CA_FILE: caFile,
      EDGE_NATS_USER: `clinic-${c.id}`, EDGE_NATS_PASSWORD: sec[c.id]!, EDGE_HTTP_PORT: String(port), EDGE_ADMIN_PASSWORD: sec[`${c.id}-admin`] ?? 'Demo-Admin-2026', EDGE_DEMO_SEED_PASSWORD: sec[`${c.id}-staff`]!, EDGE_SIMULATE_RATE: String(5 + i * 3), EDGE_DEVICES_HL7_PORT: String(hl7Port),
      // DICOM SCP on a known port; images forwarded to central under this clinic's own upload token.
      EDGE_DICOM_PORT: String(dicomPort), EDGE_DICOM_AE_TITLE: `EDGE_${c.id.split('-')[0]!.toUpperCase()}`, EDGE_DICOM_CENTRAL_URL: centralUrl, EDGE_DICOM_UPLOAD_TOKEN: clinicToken(sec.apiToken!, c.id),
      ...diskEnv.edge,
    }, /"ready":true/);
    edgeUrls.push((JSON.parse(line) as { url: string }).url);
  }

  step(4, total, 'network monitor polling a real snmpd (the district core router, SNMP v3 authPriv) and probing every edge');
  let monitor: NetworkMonitorHandle | null = null;
  try {
    const router: SnmpdHandle = await startSnmpd({ sysName: 'district-core-router' });
    disposers.push(async () => { await router[Symbol.asyncDispose](); });
    monitor = await startNetworkMonitor({
      http: { host: '127.0.0.1', port: await freePort(19470) },
      traps: { enabled: true, host: '127.0.0.1', port: 0, communities: [router.community], users: [] },
      polling: { intervalSeconds: 15 },
      anomaly: { enabled: true, stateDir: join(DIR, 'netmon') },
      inventory: {
        targets: [{
          name: 'district-core-router', kind: 'router', host: '127.0.0.1', port: router.port,
          snmp: { version: '3', user: router.v3.user, authKey: router.v3.authKey, privKey: router.v3.privKey },
          serves: CLINICS.map((c) => c.id),
        }],
        clinics: CLINICS.map((c, i) => ({ id: c.id, name: c.name, edgeHealthUrl: `${edgeUrls[i]}/healthz`, devices: [{ id: `${c.id}-bp-01`, kind: 'blood-pressure' }] })),
        central: { healthUrl: `${centralUrl}/healthz`, natsUrl },
      },
    }, { logger: pino({ level: 'warn' }, pino.destination(join(DIR, 'logs', 'network-monitor.log'))) });
    disposers.push(() => monitor!.stop());
  } catch (e) {
    console.log(`[demo] network monitor not started: ${(e as Error).message} (is snmpd installed? scripts/ensure-system.sh installs it)`);
  }

  step(5, total, 'simulated devices: a Modbus blood-pressure monitor and an HL7 bedside monitor per clinic, registered through the devices API');
  const deviceLines: string[] = [];
  for (const [i, c] of CLINICS.entries()) {
    try {
      const bp = await startSimulator(builtinProfile('bp-monitor'), { host: '127.0.0.1', seed: i + 1 });
      disposers.push(() => bp.stop());
      const monitorName = `MONITOR-${i + 1}`;
      const cookie = await signIn(edgeUrls[i]!, 'admin', sec[`${c.id}-admin`] ?? 'Demo-Admin-2026');
      await registerDevice(edgeUrls[i]!, cookie, { name: '诊室1 电子血压计', profileId: 'bp-monitor', room: '诊室1', connection: { type: 'tcp', host: '127.0.0.1', port: bp.port }, pollIntervalMs: 5000 });
      await registerDevice(edgeUrls[i]!, cookie, { name: '观察室 床旁监护仪', profileId: 'bedside-monitor-hl7', room: '观察室', connection: { type: 'listener' }, sourceName: monitorName });
      const monitor = await startSimulator(builtinProfile('bedside-monitor-hl7'), { host: '127.0.0.1', port: hl7Ports[i]!, intervalMs: 7000, deviceName: monitorName, seed: 10 + i });
      disposers.push(() => monitor.stop());
      deviceLines.push(`   devices ${edgeUrls[i]}/devices   (Modbus BP on 127.0.0.1:${bp.port}, HL7 monitor -> MLLP 127.0.0.1:${hl7Ports[i]})`);
    } catch (e) {
      deviceLines.push(`   devices: not started (${(e as Error).message})`);
    }
  }

  // An ultrasound room per clinic works as a real one would, with dcmtk as the device: it asks the
  // clinic's worklist (findscu, Modality Worklist C-FIND) for today's ultrasound orders, sends two
  // images of the first with the accession and study UID the worklist gave (matched, shown on the
  // 影像 worklist and forwarded to central), one study with the second order's name but a typed-in
  // patient ID that is wrong, and one of a walk-in nobody ordered: both wait on 待核对, the first
  // with its likely order offered first.
  /** The matched study of each clinic: the district hospital's radiologist reports it once central has it. */
  const toReport: { clinicId: string; studyUid: string; accession: string; name: string }[] = [];
  for (const [i, c] of CLINICS.entries()) {
    try {
      const cookie = await signIn(edgeUrls[i]!, 'admin', sec[`${c.id}-admin`] ?? 'Demo-Admin-2026');
      await fetch(`${edgeUrls[i]}/imaging/devices`, { method: 'POST', headers: { cookie }, body: new URLSearchParams({ aeTitle: 'US_ROOM1', host: '127.0.0.1', port: '104', modality: 'US', room: 'B超室' }) });
      const dir = join(DIR, 'dicom-samples', c.id);
      mkdirSync(dir, { recursive: true });
      const ae = `EDGE_${c.id.split('-')[0]!.toUpperCase()}`;
      // The clinic seeds today's orders when central's dictionaries have arrived: ask until they are there.
      let worklist: WorklistItem[] = [];
      for (let k = 0; k < 30 && worklist.length === 0; k++) {
        worklist = await queryWorklist(join(dir, `worklist-${k}`), 'US_ROOM1', ae, dicomPorts[i]!);
        if (worklist.length === 0) await sleep(1000);
      }
      const files: string[] = [];
      const [first, second] = worklist;
      const studyDate = new Date().toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' }).replaceAll('-', '');
      if (first) {
        const series = `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString()}`;
        for (let k = 0; k < 2; k++) files.push(writeInstance(dir, { modality: 'US', name: first.name, patientId: first.patientId, accession: first.accession, study: first.studyUid, series, studyDate, instanceNumber: k + 1 }).path);
        // The second image JPEG baseline, as most ultrasound machines send (previewed at the clinic and in the portal).
        const jpeg = files[1]!.replace(/\.dcm$/, '-jpeg.dcm');
        if (await new Promise<boolean>((res) => { const p = spawn('dcmcjpeg', ['+eb', files[1]!, jpeg], { stdio: 'ignore' }); p.once('error', () => res(false)); p.once('exit', (n) => res(n === 0)); })) files[1] = jpeg;
      }
      files.push(writeInstance(dir, { modality: 'US', name: second?.name ?? '王建国', patientId: 'DEMO-1', studyDate }).path);
      files.push(writeInstance(dir, { modality: 'US', name: '刘淑英', patientId: 'DEMO-2', studyDate }).path);
      const code = await new Promise<number>((res) => {
        const p = spawn('storescu', ['-xy', '-aet', 'US_ROOM1', '-aec', ae, '127.0.0.1', String(dicomPorts[i]), ...files], { stdio: 'ignore', env: { ...process.env, TCP_NODELAY: '1' } });
        p.once('error', () => res(-1));
        p.once('exit', (n) => res(n ?? -1));
      });
      if (first && code === 0) toReport.push({ clinicId: c.id, studyUid: first.studyUid, accession: first.accession, name: first.name });
      const what = first
        ? `worklist ${worklist.length} US orders (findscu); storescu sent 2 images (one JPEG baseline) for ${first.accession} (${first.name}) and 2 studies to reconcile (待核对)`
        : 'worklist empty (demo orders not seeded yet); storescu sent 2 studies to reconcile (待核对)';
      deviceLines[i] = `${deviceLines[i] ?? ''}\n   imaging ${edgeUrls[i]}/imaging   ${code === 0 ? what : 'storescu not available: images not sent'}`;
    } catch (e) {
      deviceLines[i] = `${deviceLines[i] ?? ''}\n   imaging: sample images not sent (${(e as Error).message})`;
    }
  }

  step(6, total, 'waiting for the first records to reach central');
  const auth = { authorization: `Bearer ${sec.apiToken}` };
  for (let i = 0; i < 60; i++) {
    const fleet = (await (await fetch(`${centralUrl}/api/fleet`, { headers: auth })).json()) as { clinicId: string; appliedSeq: number }[];
    if (fleet.length === CLINICS.length && fleet.every((f) => f.appliedSeq > 0)) {
      console.log(`[demo] replication running: ${fleet.map((f) => `${f.clinicId} applied ${f.appliedSeq}`).join(', ')}`);
      break;
    }
    await sleep(500);
  }

  // A radiologist at the district hospital reads the forwarded studies remotely (DICOMweb) and
  // reports them at central (1.5.2 §2): the clinic's 影像 page shows the report once its edge pulls
  // it, and the portal's 影像工作量 page counts it in the positive rate.
  const reportLines: string[] = [];
  for (const [k, r] of toReport.entries()) {
    let there = false;
    for (let i = 0; i < 40 && !there; i++) {
      const res = await fetch(`${centralUrl}/api/imaging/dicomweb/studies?StudyInstanceUID=${r.studyUid}`, { headers: auth }).catch(() => null);
      there = !!res && res.status === 200 && ((await res.json()) as unknown[]).length > 0;
      if (!there) await sleep(500);
    }
    if (!there) { reportLines.push(`   report: study ${r.accession} of ${r.clinicId} not at central yet (forwarding), not reported`); continue; }
    const positive = k === 0;
    const res = await fetch(`${centralUrl}/api/imaging/studies/${r.studyUid}/reports`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify(positive
        ? { status: 'final', findings: '肝脏大小形态正常，胆囊内可见一强回声团，大小约 8 mm，后伴声影，随体位移动。', impression: '胆囊结石', positive: true, radiologist: '区人民医院 李影像' }
        : { status: 'final', findings: '肝胆胰脾形态大小正常，实质回声均匀，未见明显占位。', impression: '腹部超声未见明显异常', positive: false, radiologist: '区人民医院 李影像' }),
    });
    reportLines.push(`   report: ${r.accession} (${r.name}, ${r.clinicId}) ${res.status === 201 || res.status === 200 ? `reported at central by the district hospital (${positive ? '阳性 positive' : '阴性 negative'})` : `not reported (${res.status})`}`);
  }

  console.log(`
══════════════════════════════════════════════════════════════════════
 District primary-care demo is running (Ctrl-C stops everything)
──────────────────────────────────────────────────────────────────────
 Central  ${centralUrl}
   fleet status     ${centralUrl}/api/fleet   availability and loss rate (tender 1.2.2) ${centralUrl}/api/availability, ${centralUrl}/portal/availability   planned maintenance ${centralUrl}/portal/maintenance
   Portal (managers) ${centralUrl}/portal   login ${portal ? `${portal.username} / ${portal.password}, TOTP code: npm run totp   (secret ${portal.secret})${portal.radiologist ? `\n   remote reading   ${centralUrl}/portal/imaging/studies   radiologist (影像诊断医师) ${portal.radiologist.username} / ${portal.radiologist.password}, TOTP code: npm run totp -- ${portal.radiologist.secret}` : ''}` : 'not set up'}
   API docs         ${centralUrl}/docs   FHIR guide ${centralUrl}/docs/fhir   OpenAPI ${centralUrl}/openapi.json
   DICOMweb         ${centralUrl}/api/imaging/dicomweb/studies (same bearer token)   imaging workload ${centralUrl}/portal/imaging
${reportLines.length ? `${reportLines.join('\n')}\n` : ''}   metrics          ${centralUrl}/metrics
   API login        Authorization: Bearer ${sec.apiToken}
   e.g.  curl -H 'Authorization: Bearer ${sec.apiToken}' ${centralUrl}/api/fleet
${CLINICS.map((c, i) => ` Clinic ${c.id} (${c.name})\n   web UI ${edgeUrls[i]}/   login admin / ${sec[`${c.id}-admin`] ?? 'Demo-Admin-2026'}\n   staff (password ${sec[`${c.id}-staff`]}): d0001 doctor 张建华, n0001 nurse, r0001 registrar, c0001 cashier, p0001 pharmacist, t0001 lab\n${deviceLines[i] ?? ''}\n   DICOM SCP 127.0.0.1:${dicomPorts[i]} AE EDGE_${c.id.split('-')[0]!.toUpperCase()} (register a device's AE on the 影像 page first)\n   status ${edgeUrls[i]}/api/status   metrics ${edgeUrls[i]}/metrics`).join('\n')}
 Network monitor  ${monitor ? `${monitor.url}/metrics   events ${monitor.url}/api/events   impact ${monitor.url}/api/impact` : 'not running'}
 NATS     ${natsUrl}  TLS required (demo district CA .demo/tls/ca.crt); users: central, ${CLINICS.map((c) => `clinic-${c.id}`).join(', ')}; passwords in .demo/secrets.json
 Logs     .demo/logs/        State  .demo/  (npm run demo -- --fresh to start over)
══════════════════════════════════════════════════════════════════════`);
}

/** Runs a command to completion; resolves with its stdout, rejects with its stderr. */
function runToEnd(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(args[0]!, args.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.once('error', rej);
    child.once('exit', (code) => (code === 0 ? res(out) : rej(new Error(`${args.slice(2).join(' ')} exited ${code}: ${err.trim().split('\n').pop() ?? ''}`))));
  });
}

/** Sign in to an edge's web UI and return its session cookie. */
async function signIn(edgeUrl: string, username: string, password: string): Promise<string> {
  const r = await fetch(`${edgeUrl}/login`, { method: 'POST', body: new URLSearchParams({ username, password }), redirect: 'manual' });
  const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  if (!cookie.startsWith('edge_session=')) throw new Error(`cannot sign in to ${edgeUrl} as ${username} (HTTP ${r.status}): delete .demo/ (npm run demo -- --fresh) if the password changed`);
  return cookie;
}

/** Register a device unless one with the same name exists (the demo keeps its state between runs). */
async function registerDevice(edgeUrl: string, cookie: string, body: Record<string, unknown>): Promise<void> {
  const list = (await (await fetch(`${edgeUrl}/api/devices`, { headers: { cookie } })).json()) as { name: string }[] | { devices: { name: string }[] };
  const devices = Array.isArray(list) ? list : list.devices;
  if (devices.some((d) => d.name === body.name)) return;
  const r = await fetch(`${edgeUrl}/api/devices`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`registering ${String(body.name)} failed: HTTP ${r.status} ${await r.text()}`);
}

async function waitTcp(port: number): Promise<void> {
  const { connect } = await import('node:net');
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((res) => { const s = connect(port, '127.0.0.1'); s.once('connect', () => { s.destroy(); res(true); }); s.once('error', () => res(false)); });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nats-server did not open port ${port}: see .demo/logs/nats-server.log`);
}

function shutdown(code: number) {
  console.log('[demo] stopping…');
  for (const d of disposers.reverse()) void d().catch(() => undefined);
  for (const c of children.reverse()) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 1500);
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
main().catch((e: Error) => {
  console.error(`[demo] failed: ${e.message}`);
  shutdown(1);
});
