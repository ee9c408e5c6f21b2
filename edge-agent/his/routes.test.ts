import t from 'tap';
import { Hono } from 'hono';
import { mountWeb } from '../web/app.tsx';
import { mountHisPages } from './routes.tsx';
import { seedHisDemo } from './seed.ts';
import { hisTestStore } from './testkit.ts';

t.test('HIS routes: roles, cross-origin posts refused, field errors in Chinese, audit', async (t) => {
  const k = hisTestStore('routes');
  t.teardown(k.cleanup);
  seedHisDemo(k.store);
  const app = new Hono();
  const at = new Date().toISOString();
  const ui = mountWeb(app, { accounts: k.accounts, clinicName: '测试中心', nav: [], status: () => ({ hb: { relayState: 'connected', outboxDepth: 3 } as never, lastReceiptAt: at }) });
  mountHisPages(ui, k.store, k.accounts, '测试中心');
  const cookie = async (u: string) => { const l = await k.accounts.login(u, 'Test-pass-123', 'x'); if (!l.ok) throw new Error(u); return `edge_session=${l.token}`; };
  const reg = await cookie('reg1');
  const pharm = await cookie('pharm1');

  t.equal((await app.request('/his/registration')).status, 302, 'signed out: to the sign-in page');
  t.equal((await app.request('/his/cashier', { headers: { cookie: pharm } })).status, 403, 'pharmacist may not use the till');
  const page = await (await app.request('/his/registration', { headers: { cookie: reg } })).text();
  t.match(page, /^<!DOCTYPE html>/);
  t.match(page, /data-testid="sync-depth">3</, 'sync status in the header');

  const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
  const post = (path: string, body: string, c: string, origin?: string) => app.request(path, { method: 'POST', body, headers: { cookie: c, 'content-type': 'application/x-www-form-urlencoded', host: 'localhost', ...(origin ? { origin } : {}) } });
  const evil = await post('/his/residents', form({ name: '张三', idType: '01', idNumber: '11010519491231002X' }), reg, 'http://evil.example');
  t.equal(evil.status, 403, 'cross-origin post refused');
  const bad = await post('/his/residents', form({ name: '张三', idType: '01', idNumber: '110105194912310021', phone: '', sex: '', birthDate: '', address: '', ethnicity: '', maritalStatus: '', insuranceCardNo: '', healthCardId: '' }), reg, 'http://localhost');
  t.equal(bad.status, 400);
  t.match(await bad.text(), /data-testid="err-idNumber">身份证号无效：校验位错误，应为 X</, 'bad checksum next to the field');
  const ok = await post('/his/residents', form({ name: '张三', idType: '01', idNumber: '11010519491231002X', phone: '', sex: '', birthDate: '', address: '', ethnicity: '01', maritalStatus: '20', insuranceCardNo: '', healthCardId: '' }), reg);
  t.equal(ok.status, 303);
  const stock = await post('/his/pharmacy/stock', form({ drugCode: '86900000000011', batchNo: 'B9', expiryDate: '2030-01-01', quantity: '-3' }), pharm);
  t.match(await stock.text(), /data-testid="err-quantity">数量必须大于0</, 'negative quantity next to the field');
  const unknown = await post('/his/pharmacy/stock', form({ drugCode: '123', batchNo: 'B9', expiryDate: '2030-01-01', quantity: '3' }), pharm);
  t.match(await unknown.text(), /data-testid="err-drugCode">未知药品编码 123</, 'unknown drug code next to the field');
  const audit = k.accounts.recentAudit(50).map((a) => `${a.action} ${a.outcome}`);
  t.ok(audit.includes('resident.create ok'));
  t.ok(audit.some((a) => a.startsWith('resident.create refused')));
  t.ok(audit.some((a) => a.includes('cross-origin')));
  t.ok(audit.some((a) => a.startsWith('GET /his/cashier forbidden')));
  const xlsx = await app.request('/his/stats/export.xlsx', { headers: { cookie: reg } });
  t.equal(xlsx.headers.get('content-type'), 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
});
