/**
 * Residents at the front desk: search by ID number (checksum checked), name, pinyin
 * initials, phone, insurance card or e-health card token; create and edit with the WS 365
 * basic fields. The core `residents` table is filled by `tx.emit('resident', ...)`; the
 * search keys it lacks live in `his_resident_ext`.
 */
import { uuidv7 } from '../../contracts/ids.ts';
import { pinyin } from '../../contracts/runtime/lazy-libs.ts';
import { checkResidentId, type RecordPayload } from '../../contracts/index.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import type { Tx } from '../store/store.ts';
import { HisError } from './errors.ts';
import { cached } from './sql.ts';

export const SEX_ZH: Record<string, string> = { '0': '未知的性别', '1': '男', '2': '女', '9': '未说明的性别' };
export const ID_TYPE_ZH: Record<string, string> = { '01': '居民身份证', '02': '居民户口簿', '03': '护照', '04': '军官证', '05': '驾驶证', '06': '港澳居民来往内地通行证', '07': '台湾居民来往内地通行证', '99': '其他法定有效证件' };
export const MARITAL_ZH: Record<string, string> = { '10': '未婚', '20': '已婚', '21': '初婚', '22': '再婚', '23': '复婚', '30': '丧偶', '40': '离婚', '90': '未说明的婚姻状况' };
/** GB 3304 (the most frequent groups first in the form; all 56 codes are accepted). */
export const ETHNICITY_ZH: Record<string, string> = {
  '01': '汉族', '02': '蒙古族', '03': '回族', '04': '藏族', '05': '维吾尔族', '06': '苗族', '07': '彝族', '08': '壮族', '09': '布依族', '10': '朝鲜族',
  '11': '满族', '12': '侗族', '13': '瑶族', '14': '白族', '15': '土家族', '16': '哈尼族', '17': '哈萨克族', '18': '傣族', '19': '黎族', '20': '傈僳族',
  '21': '佤族', '22': '畲族', '23': '高山族', '24': '拉祜族', '25': '水族', '26': '东乡族', '27': '纳西族', '28': '景颇族', '29': '柯尔克孜族', '30': '土族',
  '31': '达斡尔族', '32': '仫佬族', '33': '羌族', '34': '布朗族', '35': '撒拉族', '36': '毛南族', '37': '仡佬族', '38': '锡伯族', '39': '阿昌族', '40': '普米族',
  '41': '塔吉克族', '42': '怒族', '43': '乌孜别克族', '44': '俄罗斯族', '45': '鄂温克族', '46': '德昂族', '47': '保安族', '48': '裕固族', '49': '京族', '50': '塔塔尔族',
  '51': '独龙族', '52': '鄂伦春族', '53': '赫哲族', '54': '门巴族', '55': '珞巴族', '56': '基诺族', '97': '其他', '98': '外国血统中国籍人士',
};

/** Pinyin initials of a name, lower case (张三 -> zs; surnames such as 单 read as shan). */
export function pinyinInitials(name: string): string {
  return pinyin(name, { pattern: 'first', toneType: 'none', type: 'array', mode: 'surname' }).join('').toLowerCase().replace(/[^a-z]/g, '');
}

export interface ResidentView {
  residentId: string; name: string; sex: string; birthDate: string; idType: string; idNumber: string; phone: string | null;
  pinyinInitials: string; insuranceCardNo: string | null; healthCardId: string | null; address: string | null; ethnicity: string | null; maritalStatus: string | null;
}

const SELECT = `SELECT r.resident_id AS residentId, r.name, r.sex, r.birth_date AS birthDate, r.id_type AS idType, r.id_number AS idNumber, r.phone,
  coalesce(e.pinyin_initials, '') AS pinyinInitials, e.insurance_card_no AS insuranceCardNo, e.health_card_id AS healthCardId, e.address, e.ethnicity, e.marital_status AS maritalStatus
  FROM residents r LEFT JOIN his_resident_ext e ON e.resident_id = r.resident_id`;

export function getResident(db: Db, id: string): ResidentView | null {
  return cached(db).prepare<[string], ResidentView>(`${SELECT} WHERE r.resident_id = ?`).get(id) ?? null;
}

export type SearchKind = 'auto' | 'id' | 'name' | 'pinyin' | 'phone' | 'insurance' | 'healthcard';

/**
 * Find residents. `auto` guesses from the input: 15/18 characters of digits (+X) = ID number
 * (a bad checksum is an error on field `q`), 11 digits starting with 1 = phone, latin
 * letters = pinyin initials (prefix), Chinese = name (prefix), anything else = insurance
 * card, e-health card or resident id (exact).
 */
export function searchResidents(db: Db, q: string, kind: SearchKind = 'auto', limit = 50): ResidentView[] {
  const s = q.trim();
  if (!s) return [];
  const upper = (x: string) => x + '\uffff';
  let k = kind;
  if (k === 'auto') {
    if (/^\d{17}[\dXx]$/.test(s) || /^\d{15}$/.test(s)) k = 'id';
    else if (/^1\d{10}$/.test(s)) k = 'phone';
    else if (/^[A-Za-z]{1,20}$/.test(s)) k = 'pinyin';
    else if (/^[\u3400-\u9fff·]+$/.test(s)) k = 'name';
  }
  switch (k) {
    case 'id': {
      const c = checkResidentId(s);
      if (!c.ok) throw new HisError('q', `身份证号无效：${c.reason}`);
      return cached(db).prepare<[string, number], ResidentView>(`${SELECT} WHERE r.id_number = ? LIMIT ?`).all(c.id, limit);
    }
    case 'phone': return cached(db).prepare<[string, number], ResidentView>(`${SELECT} WHERE r.phone = ? LIMIT ?`).all(s, limit);
    case 'pinyin': {
      const p = s.toLowerCase();
      // Walk the pinyin index from the extension table (ordering by it keeps the LIMIT cheap with 200k residents).
      return cached(db).prepare<[string, string, number], ResidentView>(`SELECT r.resident_id AS residentId, r.name, r.sex, r.birth_date AS birthDate, r.id_type AS idType, r.id_number AS idNumber, r.phone,
        e.pinyin_initials AS pinyinInitials, e.insurance_card_no AS insuranceCardNo, e.health_card_id AS healthCardId, e.address, e.ethnicity, e.marital_status AS maritalStatus
        FROM his_resident_ext e JOIN residents r ON r.resident_id = e.resident_id WHERE e.pinyin_initials >= ? AND e.pinyin_initials < ? ORDER BY e.pinyin_initials LIMIT ?`).all(p, upper(p), limit);
    }
    case 'name': return cached(db).prepare<[string, string, number], ResidentView>(`${SELECT} WHERE r.name >= ? AND r.name < ? ORDER BY r.name LIMIT ?`).all(s, upper(s), limit);
    case 'insurance': return cached(db).prepare<[string, number], ResidentView>(`${SELECT} WHERE e.insurance_card_no = ? LIMIT ?`).all(s, limit);
    case 'healthcard': return cached(db).prepare<[string, number], ResidentView>(`${SELECT} WHERE e.health_card_id = ? LIMIT ?`).all(s, limit);
    default: {
      const viaExt = cached(db).prepare<[string, string, number], ResidentView>(`${SELECT} WHERE r.resident_id IN (SELECT resident_id FROM his_resident_ext WHERE insurance_card_no = ? UNION SELECT resident_id FROM his_resident_ext WHERE health_card_id = ?) LIMIT ?`).all(s, s, limit);
      if (viaExt.length) return viaExt;
      return cached(db).prepare<[string, string, number], ResidentView>(`${SELECT} WHERE r.resident_id = ? OR r.id_number = ? LIMIT ?`).all(s, s.toUpperCase(), limit);
    }
  }
}

export interface ResidentForm {
  residentId?: string; name: string; sex: string; birthDate: string; idType: string; idNumber: string; phone: string; address: string;
  ethnicity: string; maritalStatus: string; insuranceCardNo: string; healthCardId: string;
}

export class FormErrors extends Error {
  override name = 'FormErrors';
  constructor(readonly fields: Record<string, string>) { super(Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('; ')); }
}

/** Validate a resident form; every wrong field gets its Chinese message. ID type 01 derives birth date and sex. */
export function validateResidentForm(db: Db, f: ResidentForm): RecordPayload<'resident'> {
  const err: Record<string, string> = {};
  const name = f.name.trim();
  if (!name) err.name = '请填写姓名';
  else if (name.length > 50) err.name = '姓名不超过50字';
  const idType = f.idType || '01';
  if (!(idType in ID_TYPE_ZH)) err.idType = '证件类别无效';
  let idNumber = f.idNumber.trim().toUpperCase();
  let birthDate = f.birthDate.trim();
  let sex = f.sex.trim();
  if (!idNumber) err.idNumber = '请填写证件号码';
  else if (idType === '01') {
    const c = checkResidentId(idNumber);
    if (!c.ok) err.idNumber = `身份证号无效：${c.reason.split(' / ')[0]}`;
    else {
      idNumber = c.id;
      if (birthDate && birthDate !== c.birthDate) err.birthDate = `出生日期与身份证号不符（应为 ${c.birthDate}）`;
      birthDate = c.birthDate;
      if (sex && sex !== c.sex && sex !== '0' && sex !== '9') err.sex = `性别与身份证号不符（应为${SEX_ZH[c.sex]}）`;
      sex = c.sex;
    }
  } else if (idNumber.length > 32) err.idNumber = '证件号码不超过32位';
  if (!(sex in SEX_ZH)) err.sex = '请选择性别';
  if (idType !== '01' || !birthDate) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(birthDate) || Number.isNaN(Date.parse(birthDate))) err.birthDate = '请填写出生日期（yyyy-MM-dd）';
    else if (birthDate > new Date().toISOString().slice(0, 10)) err.birthDate = '出生日期不能晚于今天';
  }
  const phone = f.phone.trim();
  if (phone && !/^(1\d{10}|0\d{2,3}-?\d{7,8})$/.test(phone)) err.phone = '手机号应为11位数字（或带区号的固定电话）';
  const ethnicity = f.ethnicity.trim();
  if (ethnicity && !(ethnicity in ETHNICITY_ZH)) err.ethnicity = '民族代码无效（GB 3304）';
  const marital = f.maritalStatus.trim();
  if (marital && !(marital in MARITAL_ZH)) err.maritalStatus = '婚姻状况代码无效（GB/T 2261.2）';
  const insurance = f.insuranceCardNo.trim();
  if (insurance && !/^[A-Za-z0-9]{6,40}$/.test(insurance)) err.insuranceCardNo = '医保卡号应为6-40位字母或数字';
  const card = f.healthCardId.trim();
  if (card.length > 80) err.healthCardId = '电子健康卡标识过长';
  if (f.address.length > 200) err.address = '地址不超过200字';
  if (!err.idNumber && idNumber) {
    const dup = db.prepare<[string, string], { resident_id: string; name: string }>('SELECT resident_id, name FROM residents WHERE id_type = ? AND id_number = ?').get(idType, idNumber);
    if (dup && dup.resident_id !== f.residentId) err.idNumber = `该证件号已建档（${dup.name}），请勿重复建档`;
  }
  if (insurance && !err.insuranceCardNo) {
    const dup = db.prepare<[string], { resident_id: string }>('SELECT resident_id FROM his_resident_ext WHERE insurance_card_no = ?').get(insurance);
    if (dup && dup.resident_id !== f.residentId) err.insuranceCardNo = '该医保卡号已被其他居民使用';
  }
  if (Object.keys(err).length) throw new FormErrors(err);
  return {
    residentId: f.residentId || uuidv7(), name, sex: sex as '0' | '1' | '2' | '9', birthDate, idType: idType as RecordPayload<'resident'>['idType'], idNumber,
    ...(ethnicity ? { ethnicity } : {}), ...(marital ? { maritalStatus: marital as RecordPayload<'resident'>['maritalStatus'] } : {}),
    ...(phone ? { phone } : {}), ...(f.address.trim() ? { address: f.address.trim() } : {}), ...(insurance ? { insuranceCardNo: insurance } : {}), ...(card ? { healthCardId: card } : {}),
  };
}

/** Write the search keys of a resident (in the caller's transaction). */
export function upsertExt(db: Db, r: RecordPayload<'resident'>): void {
  db.prepare(`INSERT INTO his_resident_ext (resident_id, pinyin_initials, insurance_card_no, health_card_id, address, ethnicity, marital_status, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (resident_id) DO UPDATE SET pinyin_initials = excluded.pinyin_initials, insurance_card_no = excluded.insurance_card_no,
    health_card_id = excluded.health_card_id, address = excluded.address, ethnicity = excluded.ethnicity, marital_status = excluded.marital_status, updated_at = excluded.updated_at`)
    .run(r.residentId, pinyinInitials(r.name), r.insuranceCardNo ?? null, r.healthCardId ?? null, r.address ?? null, r.ethnicity ?? null, r.maritalStatus ?? null, new Date().toISOString());
}

/** Create or update a resident: replicated `resident` record + search keys, one transaction. */
export function saveResident(tx: Tx, r: RecordPayload<'resident'>): void {
  tx.emit('resident', r.residentId, r);
  upsertExt(tx.db, r);
}

/**
 * Residents that arrived without search keys (from central, the simulator, other modules)
 * get them here. Only residents inserted after `afterRowid` are looked at, so the check is
 * cheap on a busy edge; returns how many were filled and the rowid to continue from.
 * `sliceMs`: stop taking residents after this long (the rest waits for the next call), so a bulk
 * arrival does not hold the edge's main thread: 2,000 residents in one transaction held it ~600 ms,
 * and device readings waited behind it.
 * (A name changed later by central keeps its old pinyin until saved at the desk.)
 */
export function backfillExt(db: Db, afterRowid = 0, max = 2000, sliceMs = Infinity): { filled: number; lastRowid: number } {
  const rows = db.prepare<[number, number], { rid: number; resident_id: string; payload: string | null; name: string; has: number }>(`SELECT r.rowid AS rid, r.resident_id, r.name, rec.payload,
      EXISTS (SELECT 1 FROM his_resident_ext e WHERE e.resident_id = r.resident_id) AS has
    FROM residents r LEFT JOIN records rec ON rec.type = 'resident' AND rec.record_id = r.resident_id
    WHERE r.rowid > ? ORDER BY r.rowid LIMIT ?`).all(afterRowid, max);
  let filled = 0;
  let lastRowid = afterRowid;
  const deadline = performance.now() + sliceMs;
  db.transaction(() => {
    for (const row of rows) {
      if (lastRowid !== afterRowid && performance.now() > deadline) break;
      lastRowid = row.rid;
      if (row.has) continue;
      const p = row.payload ? (JSON.parse(row.payload) as RecordPayload<'resident'>) : ({ residentId: row.resident_id, name: row.name } as RecordPayload<'resident'>);
      upsertExt(db, { ...p, residentId: row.resident_id, name: row.name });
      filled++;
    }
  })();
  return { filled, lastRowid };
}

/** Age in whole years on `today` (yyyy-MM-dd). */
export function ageOn(birthDate: string, today: string): number {
  const [by, bm, bd] = birthDate.split('-').map(Number) as [number, number, number];
  const [ty, tm, td] = today.split('-').map(Number) as [number, number, number];
  return ty - by - (tm < bm || (tm === bm && td < bd) ? 1 : 0);
}
