/**
 * The organisation hierarchy indicators roll up along: district -> centre -> station, and
 * family-doctor teams under a centre. Centres and stations map to edge clinic ids.
 */
import type { SqlDb } from './sql.ts';

export type OrgLevel = 'district' | 'centre' | 'station' | 'team';
export const ORG_LEVELS: OrgLevel[] = ['district', 'centre', 'station', 'team'];

export interface OrgUnit {
  id: string;
  parentId: string | null;
  level: OrgLevel;
  name: string;
  nameEn: string | null;
  clinicId: string | null;
  /** Team code as written on contracts (fd_team / fd_contract teamId). */
  code: string | null;
  sort: number;
}

export class OrgTree {
  readonly byId = new Map<string, OrgUnit>();
  readonly children = new Map<string, OrgUnit[]>();
  readonly byClinic = new Map<string, OrgUnit>();
  readonly byTeamCode = new Map<string, OrgUnit>();
  constructor(readonly units: OrgUnit[]) {
    for (const u of units) {
      this.byId.set(u.id, u);
      if (u.clinicId) this.byClinic.set(u.clinicId, u);
      if (u.level === 'team') {
        this.byTeamCode.set(u.id, u);
        if (u.code) this.byTeamCode.set(u.code, u);
      }
    }
    for (const u of [...units].sort((a, b) => a.sort - b.sort || a.id.localeCompare(b.id))) {
      if (!u.parentId) continue;
      const l = this.children.get(u.parentId) ?? [];
      l.push(u);
      this.children.set(u.parentId, l);
    }
  }
  get root(): OrgUnit {
    const r = this.units.find((u) => u.level === 'district');
    if (!r) throw new Error('organisation tree has no district');
    return r;
  }
  kids(id: string): OrgUnit[] {
    return this.children.get(id) ?? [];
  }
  /** The unit and everything under it. */
  subtree(id: string): OrgUnit[] {
    const out: OrgUnit[] = [];
    const walk = (u: OrgUnit | undefined) => {
      if (!u) return;
      out.push(u);
      for (const k of this.kids(u.id)) walk(k);
    };
    walk(this.byId.get(id));
    return out;
  }
  clinicsUnder(id: string): string[] {
    return this.subtree(id).map((u) => u.clinicId).filter((c): c is string => !!c);
  }
  teamsUnder(id: string): string[] {
    return this.subtree(id).filter((u) => u.level === 'team').map((u) => u.id);
  }
  isWithin(id: string, ancestor: string): boolean {
    for (let u = this.byId.get(id); u; u = u.parentId ? this.byId.get(u.parentId) : undefined) if (u.id === ancestor) return true;
    return false;
  }
  path(id: string): OrgUnit[] {
    const out: OrgUnit[] = [];
    for (let u = this.byId.get(id); u; u = u.parentId ? this.byId.get(u.parentId) : undefined) out.unshift(u);
    return out;
  }
  /** Institution (centre or station) that owns a clinic id. */
  institutionOf(clinicId: string): OrgUnit | undefined {
    return this.byClinic.get(clinicId);
  }
}

type Row = { id: string; parent_id: string | null; level: OrgLevel; name: string; name_en: string | null; clinic_id: string | null; code: string | null; sort: number };

export async function loadOrg(db: SqlDb): Promise<OrgTree> {
  const rows = await db.all<Row>('SELECT id, parent_id, level, name, name_en, clinic_id, code, sort FROM an_org');
  return new OrgTree(rows.map((r) => ({ id: r.id, parentId: r.parent_id, level: r.level, name: r.name, nameEn: r.name_en, clinicId: r.clinic_id, code: r.code, sort: Number(r.sort) })));
}

export async function upsertOrgUnit(db: SqlDb, u: OrgUnit): Promise<void> {
  await db.run(`INSERT INTO an_org (id, parent_id, level, name, name_en, clinic_id, code, sort) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, level = excluded.level, name = excluded.name, name_en = excluded.name_en,
    clinic_id = excluded.clinic_id, code = excluded.code, sort = excluded.sort`, [u.id, u.parentId, u.level, u.name, u.nameEn, u.clinicId, u.code, u.sort]);
}

export async function deleteOrgUnit(db: SqlDb, id: string): Promise<void> {
  const kids = await db.get<{ n: number }>('SELECT count(*) AS n FROM an_org WHERE parent_id = ?', [id]);
  if (Number(kids?.n ?? 0) > 0) throw new Error('unit has children: move or delete them first');
  await db.run('DELETE FROM an_org WHERE id = ?', [id]);
}

const CENTRES: [string, string, string][] = [
  ['c01-xinhua', '新华社区卫生服务中心', 'Xinhua CHC'], ['c02-dongfeng', '东风社区卫生服务中心', 'Dongfeng CHC'],
  ['c03-nanhu', '南湖社区卫生服务中心', 'Nanhu CHC'], ['c04-beiyuan', '北苑社区卫生服务中心', 'Beiyuan CHC'],
  ['c05-chengguan', '城关社区卫生服务中心', 'Chengguan CHC'], ['c06-jinshui', '金水社区卫生服务中心', 'Jinshui CHC'],
  ['c07-qingshan', '青山社区卫生服务中心', 'Qingshan CHC'], ['c08-hongqi', '红旗社区卫生服务中心', 'Hongqi CHC'],
  ['c09-xiangyang', '向阳社区卫生服务中心', 'Xiangyang CHC'], ['c10-yongan', '永安社区卫生服务中心', 'Yong\'an CHC'],
  ['c11-fuxing', '复兴社区卫生服务中心', 'Fuxing CHC'], ['c12-changjiang', '长江社区卫生服务中心', 'Changjiang CHC'],
];
const STATIONS: [string, string, string, number][] = [
  ['s01-heping', '和平社区卫生服务站', 'Heping CHS', 0], ['s02-yingbin', '迎宾社区卫生服务站', 'Yingbin CHS', 0],
  ['s03-wenhua', '文化社区卫生服务站', 'Wenhua CHS', 1], ['s04-guangming', '光明社区卫生服务站', 'Guangming CHS', 2],
  ['s05-huayuan', '花园社区卫生服务站', 'Huayuan CHS', 2], ['s06-xingfu', '幸福社区卫生服务站', 'Xingfu CHS', 3],
  ['s07-minzhu', '民主社区卫生服务站', 'Minzhu CHS', 4], ['s08-tiyu', '体育社区卫生服务站', 'Tiyu CHS', 5],
  ['s09-gongyuan', '公园社区卫生服务站', 'Gongyuan CHS', 5], ['s10-xueyuan', '学院社区卫生服务站', 'Xueyuan CHS', 6],
  ['s11-binhe', '滨河社区卫生服务站', 'Binhe CHS', 7], ['s12-taoyuan', '桃园社区卫生服务站', 'Taoyuan CHS', 8],
  ['s13-lianhua', '莲花社区卫生服务站', 'Lianhua CHS', 9], ['s14-zhongshan', '中山社区卫生服务站', 'Zhongshan CHS', 10],
  ['s15-songshan', '松山社区卫生服务站', 'Songshan CHS', 11],
];

/** A realistic district: 12 centres, 15 stations, 2 family-doctor teams per centre. Idempotent. */
export function demoDistrict(): OrgUnit[] {
  const units: OrgUnit[] = [{ id: 'district', parentId: null, level: 'district', name: '城东区卫生健康局', nameEn: 'Chengdong District Health Bureau', clinicId: null, code: null, sort: 0 }];
  CENTRES.forEach(([id, name, en], i) => {
    units.push({ id, parentId: 'district', level: 'centre', name, nameEn: en, clinicId: id, code: null, sort: i + 1 });
    for (const t of [1, 2]) {
      const tid = `${id.slice(0, 3)}-t${t}`;
      units.push({ id: tid, parentId: id, level: 'team', name: `${name.replace('社区卫生服务中心', '')}家庭医生${t === 1 ? '一' : '二'}团队`, nameEn: `${en} team ${t}`, clinicId: null, code: tid, sort: 100 + t });
    }
  });
  STATIONS.forEach(([id, name, en, centre], i) => units.push({ id, parentId: CENTRES[centre]![0], level: 'station', name, nameEn: en, clinicId: id, code: null, sort: 50 + i }));
  return units;
}

export async function seedOrg(db: SqlDb, units: OrgUnit[] = demoDistrict()): Promise<number> {
  // A bare district (the placeholder a running portal creates) does not count as seeded.
  const have = await db.get<{ n: number }>("SELECT count(*) AS n FROM an_org WHERE level <> 'district'");
  if (Number(have?.n ?? 0) > 0) return 0;
  for (const u of units) await upsertOrgUnit(db, u);
  return units.length;
}
