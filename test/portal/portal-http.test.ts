/**
 * Portal over HTTP: two-factor login, lockout, CSRF, roles, Excel export, and the scope rule
 * tested route by route: a manager of centre A cannot read centre B's residents through any
 * registered portal route (GET pages, their Excel exports, and POST actions).
 */
import t from 'tap';
import ExcelJS from 'exceljs';
import { Client, PASSWORD, startPortal, totpCode } from './portal-server.ts';

// Residents known only to centre B (c02-dongfeng) in the hand-worked district.
const B_ONLY = ['周七', '吴八', '郑九', 'R7', 'R8', 'R9'];
/** `s` appears in `body` as a whole word (not inside a random token). */
const leaks = (s: string, body: string) => new RegExp(`(^|[^0-9A-Za-z])${s}([^0-9A-Za-z]|$)`).test(body);

async function xlsxText(buf: ArrayBuffer): Promise<string> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(buf);
  const out: string[] = [];
  wb.eachSheet((ws) => ws.eachRow((row) => row.eachCell((c) => { out.push(String(c.value ?? '')); })));
  return out.join('\n');
}

t.test('portal', async (t) => {
  const p = await startPortal();
  t.teardown(() => p.close());

  t.test('login needs password and TOTP; lockout; replay refused', async (t) => {
    const c = new Client(p.url);
    t.equal((await c.get('/portal')).status, 302, 'not signed in -> login');
    t.equal((await c.req('POST', '/portal/login', { username: 'qcofficer', password: 'wrong' })).status, 401);
    const r = await c.req('POST', '/portal/login', { username: 'qcofficer', password: PASSWORD });
    t.equal(r.headers.get('location'), '/portal/totp');
    t.match(r.headers.getSetCookie()[0], /HttpOnly/i);
    t.match(r.headers.getSetCookie()[0], /SameSite=Strict/i);
    t.equal((await c.get('/portal')).status, 302, 'password alone opens nothing');
    t.match(await (await c.get('/portal/totp')).text(), /data-testid="enrol"/, 'not enrolled: QR and secret shown');
    t.equal((await c.req('POST', '/portal/totp', { code: '000000' })).status, 401, 'wrong code');
    const code = totpCode(p.users.qc);
    const ok = await c.req('POST', '/portal/totp', { code });
    t.equal(ok.status, 302);
    t.equal((await c.get('/portal/qc')).status, 200, 'signed in');
    // The same code again (another session) is a replay.
    const c2 = new Client(p.url);
    await c2.req('POST', '/portal/login', { username: 'qcofficer', password: PASSWORD });
    t.equal((await c2.req('POST', '/portal/totp', { code })).status, 401, 'replayed code refused');
    // Lockout after 5 failures, also when they arrive at once (each password is checked on the
    // thread pool: every failure must still count).
    const bad = new Client(p.url);
    const statuses = await Promise.all(Array.from({ length: 5 }, () => bad.req('POST', '/portal/login', { username: 'auditor', password: 'nope' }).then((r) => r.status)));
    t.same(statuses.sort(), [401, 401, 401, 401, 423], 'five concurrent failures: four refused, the fifth locks');
    t.equal((await bad.req('POST', '/portal/login', { username: 'auditor', password: PASSWORD })).status, 423, 'even with the right password');
    // CSRF: a signed-in POST without the token is refused; a cross-site Origin too.
    t.equal((await c.req('POST', '/portal/qc/rules/sbp_range', { enabled: '0' })).status, 403);
    t.equal((await fetch(`${p.url}/portal/login`, { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=qcofficer&password=x' })).status, 403);
  });

  t.test('pages for the district manager, Excel export read back, audit of resident views', async (t) => {
    const c = await Client.login(p.url, 'district', p.users.district);
    for (const path of ['/portal?period=2026', '/portal/indicators?period=2026', '/portal/indicators/htn_standard_mgmt?org=c01-xinhua&period=2026', '/portal/medical?period=2026-03', '/portal/qc?period=2026', '/portal/qc/htn_followups?period=2026', '/portal/performance?period=2026', '/portal/fleet', '/portal/uploads', '/portal/dictionaries?name=staff', '/portal/org']) {
      const r = await c.get(path);
      t.equal(r.status, 200, path);
    }
    const ind = await (await c.get('/portal/indicators/htn_standard_mgmt?org=c01-xinhua&period=2026')).text();
    t.match(ind, /33\.3%/, 'c01: 1 of 3');
    t.match(ind, /data-testid="formula"/);
    t.match(ind, /数据截至/, 'as-of time shown');
    const cases = await c.get('/portal/indicators/htn_standard_mgmt/cases?org=c01-xinhua&period=2026&failing=1&format=xlsx&table=cases');
    t.equal(cases.status, 200);
    const text = await xlsxText(await cases.arrayBuffer());
    t.match(text, /王二/);
    t.match(text, /期内高血压随访 3 次，少于要求的 4 次/);
    t.equal((await c.get('/portal/users')).status, 403, 'district manager is not an admin');
    const audit = await Client.login(p.url, 'admin', p.users.admin);
    const log = await (await audit.get('/portal/audit?actor=portal:district')).text();
    t.match(log, /portal\.cases\.view/, 'resident-level view audited');
    t.match(log, /portal\.export/, 'export audited');
  });

  t.test('a manager of centre A cannot read centre B residents through any portal route', async (t) => {
    // Centre B has a rectification document to try to download.
    const district = await Client.login(p.url, 'auditor', p.users.auditor).catch(() => null);
    t.equal(district, null, 'auditor is locked from the previous test');
    const admin = new Client(p.url);
    admin.cookie = (await Client.login(p.url, 'managerb', p.users.managerb)).cookie;
    const b = admin;
    b.csrf = /name="_csrf" value="([^"]+)"/.exec(await (await b.get('/portal')).text())![1]!;
    const fd = new FormData();
    fd.set('orgId', 'c02-dongfeng'); fd.set('indicatorId', 'htn_control'); fd.set('period', '2026'); fd.set('note', 'B 整改');
    fd.set('file', new Blob(['B centre plan: 周七 follow-up'], { type: 'text/plain' }), 'b-plan.txt');
    t.equal((await b.post('/portal/performance/rectifications', fd)).status, 302, 'B uploads its own rectification');
    const docId = (await p.analytics.db.get<{ id: string }>('SELECT id FROM portal_rectifications'))!.id;
    t.match(await (await b.get('/portal/residents/R7')).text(), /周七/, 'B itself sees its resident');

    const a = await Client.login(p.url, 'managera', p.users.managera);
    const routes = p.app.routes.filter((r) => r.path.startsWith('/portal') && (r.method === 'GET' || r.method === 'POST') && !r.path.includes('*'));
    const params: Record<string, string> = { ':id': 'htn_control', ':rule': 'htn_followups', ':name': 'staff' };
    const fill = (path: string) => {
      if (path === '/portal/residents/:id') return ['/portal/residents/R7', '/portal/residents/R8', '/portal/residents/R9'];
      if (path === '/portal/performance/rectifications/:id') return [`/portal/performance/rectifications/${docId}`];
      if (path === '/portal/org/units/:id/delete') return ['/portal/org/units/c02-t1/delete'];
      if (path === '/portal/qc/rules/:id') return ['/portal/qc/rules/htn_followups'];
      return [path.replace(/:[a-z]+/g, (m) => params[m] ?? 'x')];
    };
    const seen = new Set<string>();
    for (const r of routes) {
      for (const path of fill(r.path)) {
        const key = `${r.method} ${path}`;
        if (seen.has(key) || ['/portal/login', '/portal/totp', '/portal/logout'].includes(path)) continue;
        seen.add(key);
        if (r.method === 'GET') {
          for (const q of ['?org=c02-dongfeng&period=2026', '?org=c02-t1&period=2026', '?period=2026', '?org=district&period=2026-03', '?period=2026&format=xlsx', '?org=c02-dongfeng&period=2026&format=xlsx']) {
            const res = await a.get(path + q);
            const ct = res.headers.get('content-type') ?? '';
            const body = ct.includes('spreadsheet') ? await xlsxText(await res.arrayBuffer()) : await res.text();
            // The id asked for is echoed in links of the refusal page; names and other ids must not appear.
            const leaked = B_ONLY.filter((s) => !path.endsWith(`/${s}`)).filter((s) => leaks(s, body));
            t.same(leaked, [], `${key}${q} -> ${res.status} leaks nothing of centre B`);
            if (q.includes('org=c02') || q.includes('org=district')) t.ok(res.status === 404 || res.status === 403 || path.startsWith('/portal/assets') || !/org=/.test(path + q) || ['/portal/fleet', '/portal/availability', '/portal/maintenance', '/portal/uploads', '/portal/dead-letters', '/portal/imaging', '/portal/imaging/studies', '/portal/backup', '/portal/dictionaries', '/portal/org', '/portal/audit', '/portal/users', '/portal/qc/rules'].includes(path) || path.startsWith('/portal/residents') || path.startsWith('/portal/performance/rectifications/'), `${key}${q}: ${res.status}`);
          }
        } else {
          const res = await a.post(path, { orgId: 'c02-dongfeng', indicatorId: 'htn_control', period: '2026', username: 'managerb', action: 'role', role: 'admin', name: 'x', id: 'c02-t1', level: 'team', parentId: 'c02-dongfeng', year: '2026', permanent: '1', elderly: '1', keyPop: '1', staff: '1', doctors: '1', gps: '1', nurses: '1', enabled: '0' });
          const body = await res.text();
          t.ok(res.status === 403 || res.status === 404 || res.status === 400, `${key} refused (${res.status})`);
          // As a word, as for the GETs above: a random token in the page (CSRF, nonce) may contain 'R7'.
          t.same(B_ONLY.filter((s) => leaks(s, body)), [], `${key} leaks nothing`);
        }
      }
    }
    t.ok(seen.size >= 30, `${seen.size} route variants tried`);
    // Nothing of B changed: its team still exists, its population unchanged.
    t.ok(p.analytics.org().byId.has('c02-t1'));
    t.equal((await p.analytics.db.get<{ permanent: number }>("SELECT permanent FROM an_population WHERE org_id = 'c02-dongfeng'"))!.permanent, 10);
    const denied = await p.analytics.db.get<{ n: number }>("SELECT count(*) AS n FROM audit_log WHERE actor = 'portal:managera' AND outcome LIKE 'denied%'");
    t.ok(denied!.n > 10, 'denials are audited');
  });
});
