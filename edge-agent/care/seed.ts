/**
 * Demo data for the care pages: one family-doctor team, a basic and two personalised service
 * packages (the ASCVD page uses the published China-PAR table shipped with the code).
 * Idempotent: does nothing when a team already exists.
 *
 *   import { seedCareDemo } from './edge-agent/care/index.ts';
 *   seedCareDemo(agent.store, { doctor: 'dr.li', doctorName: '李医生', nurse: 'nurse.wang', nurseName: '王护士' });
 */
import type { EdgeStore } from '../store/store.ts';

export function seedCareDemo(store: EdgeStore, staff: { doctor?: string; doctorName?: string; nurse?: string; nurseName?: string } = {}): { teamId: string; packageIds: string[] } | null {
  const db = store.db;
  const has = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM records WHERE type = 'fd_team'").get()!.n;
  if (has) return null;
  const doctor = staff.doctor ?? 'dr.li';
  const nurse = staff.nurse ?? 'nurse.wang';
  const teamId = 'team-demo-1';
  const pk = [
    { packageId: 'pkg-basic', name: '基础服务包', kind: 'basic' as const, priceFen: 12000, selfPayFen: 0, services: [{ code: 'B01', name: '健康档案建立与维护', timesPerYear: 1 }, { code: 'B02', name: '健康咨询与指导', timesPerYear: 4 }, { code: 'B03', name: '预约优先就诊', timesPerYear: 12 }], targetTags: [], active: true },
    { packageId: 'pkg-chronic', name: '慢病管理包（高血压/糖尿病）', kind: 'personalised' as const, priceFen: 20000, selfPayFen: 3000, services: [{ code: 'C01', name: '面对面随访', timesPerYear: 4 }, { code: 'C02', name: '血压/血糖监测', timesPerYear: 12 }, { code: 'C03', name: '年度并发症筛查', timesPerYear: 1 }], targetTags: ['hypertension' as const, 'diabetes' as const], active: true },
    { packageId: 'pkg-elderly', name: '老年人健康包', kind: 'personalised' as const, priceFen: 15000, selfPayFen: 2000, services: [{ code: 'E01', name: '年度健康体检', timesPerYear: 1 }, { code: 'E02', name: '中医体质辨识与调养', timesPerYear: 1 }, { code: 'E03', name: '上门随访', timesPerYear: 2 }], targetTags: ['elderly' as const], active: true },
  ];
  store.transact((tx) => {
    tx.emit('fd_team', teamId, { teamId, name: '全科一团队', leaderCode: doctor, members: [{ staffCode: doctor, name: staff.doctorName ?? '李医生', role: 'gp' }, { staffCode: nurse, name: staff.nurseName ?? '王护士', role: 'nurse' }, { staffCode: 'ph.zhao', name: '赵公卫', role: 'public_health' }], active: true });
    for (const p of pk) tx.emit('fd_package', p.packageId, p);
  });
  return { teamId, packageIds: pk.map((p) => p.packageId) };
}
