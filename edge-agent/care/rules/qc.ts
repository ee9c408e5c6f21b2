/**
 * Health-record quality checks (WS 365 record; WS/T 303-style completeness, logic,
 * consistency and duplicate checks). Each issue names the field and says exactly what is
 * wrong, in Chinese (English alongside).
 */
import { checkResidentId } from '../../../contracts/identity.ts';
import { isIsoDate } from './dates.ts';

export type QcKind = 'completeness' | 'logic' | 'consistency' | 'duplicate';
export const QC_KIND_ZH: Record<QcKind, string> = { completeness: '完整性', logic: '逻辑性', consistency: '一致性', duplicate: '重复' };
export interface QcIssue { kind: QcKind; field: string; zh: string; en: string }

export interface QcResident { residentId: string; name: string; sex: string; birthDate: string; idType: string; idNumber: string; phone?: string | null }
export interface QcRecord {
  healthRecordNo?: string | undefined;
  status?: string | undefined;
  createdDate?: string | undefined;
  doctorCode?: string | undefined;
  teamId?: string | undefined;
  residenceType?: string | undefined;
  currentAddress?: string | undefined;
  aboBloodGroup?: string | undefined;
  pastDiseases?: readonly { name: string; diagnosedDate?: string | undefined }[] | undefined;
  migratedToClinicId?: string | undefined;
  migratedDate?: string | undefined;
  cancelledDate?: string | undefined;
  cancelReason?: string | undefined;
  mergedIntoRecordNo?: string | undefined;
}

export const FIELD_ZH: Record<string, string> = {
  name: '姓名', sex: '性别', birthDate: '出生日期', idNumber: '身份证件号码', phone: '本人电话', healthRecordNo: '档案编号', createdDate: '建档日期',
  doctorCode: '责任医生', teamId: '家庭医生团队', residenceType: '常住类型', currentAddress: '现住址', aboBloodGroup: '血型',
  pastDiseases: '既往史', migratedToClinicId: '迁入机构', cancelReason: '注销原因', mergedIntoRecordNo: '合并到档案',
};

/** Mainland mobile (11 digits starting 1) or a landline with area code (0xx-xxxxxxx[x]). */
export function validPhone(p: string): boolean {
  return /^1[3-9]\d{9}$/.test(p) || /^0\d{2,3}-?\d{7,8}$/.test(p);
}

export function checkRecord(res: QcResident, rec: QcRecord, today: string): QcIssue[] {
  const out: QcIssue[] = [];
  const miss = (field: string) => out.push({ kind: 'completeness', field, zh: `${FIELD_ZH[field] ?? field}未填写`, en: `${field} is missing` });
  // Completeness: the items the record cannot be used without.
  if (!res.name?.trim()) miss('name');
  if (!res.sex) miss('sex');
  if (!res.birthDate) miss('birthDate');
  if (!res.idNumber) miss('idNumber');
  if (!res.phone) miss('phone');
  if (!rec.healthRecordNo) miss('healthRecordNo');
  if (!rec.createdDate) miss('createdDate');
  if (!rec.doctorCode) miss('doctorCode');
  if (!rec.residenceType) miss('residenceType');
  if (!rec.currentAddress?.trim()) miss('currentAddress');
  if (!rec.aboBloodGroup) miss('aboBloodGroup');
  // Logic: values that cannot be true.
  if (res.birthDate && !isIsoDate(res.birthDate)) out.push({ kind: 'logic', field: 'birthDate', zh: `出生日期 ${res.birthDate} 不是有效日期`, en: 'birth date is not a valid date' });
  else if (res.birthDate && res.birthDate > today) out.push({ kind: 'logic', field: 'birthDate', zh: `出生日期 ${res.birthDate} 晚于今天（${today}）`, en: 'birth date is in the future' });
  else if (res.birthDate && res.birthDate < '1900-01-01') out.push({ kind: 'logic', field: 'birthDate', zh: `出生日期 ${res.birthDate} 早于 1900 年`, en: 'birth date before 1900' });
  if (rec.createdDate) {
    if (!isIsoDate(rec.createdDate)) out.push({ kind: 'logic', field: 'createdDate', zh: `建档日期 ${rec.createdDate} 不是有效日期`, en: 'record date is not a valid date' });
    else if (rec.createdDate > today) out.push({ kind: 'logic', field: 'createdDate', zh: `建档日期 ${rec.createdDate} 晚于今天（${today}）`, en: 'record date is in the future' });
    else if (res.birthDate && rec.createdDate < res.birthDate) out.push({ kind: 'logic', field: 'createdDate', zh: `建档日期 ${rec.createdDate} 早于出生日期 ${res.birthDate}`, en: 'record date before birth' });
  }
  for (const d of rec.pastDiseases ?? []) {
    if (d.diagnosedDate && res.birthDate && d.diagnosedDate < res.birthDate) out.push({ kind: 'logic', field: 'pastDiseases', zh: `既往史「${d.name}」确诊日期 ${d.diagnosedDate} 早于出生日期`, en: `past disease ${d.name} diagnosed before birth` });
    if (d.diagnosedDate && d.diagnosedDate > today) out.push({ kind: 'logic', field: 'pastDiseases', zh: `既往史「${d.name}」确诊日期 ${d.diagnosedDate} 晚于今天`, en: `past disease ${d.name} diagnosed in the future` });
  }
  if (res.phone && !validPhone(res.phone)) out.push({ kind: 'logic', field: 'phone', zh: `本人电话「${res.phone}」格式不正确（手机 11 位，或区号-座机号）`, en: 'phone number format' });
  if (rec.healthRecordNo && !/^\d{17}$/.test(rec.healthRecordNo)) out.push({ kind: 'logic', field: 'healthRecordNo', zh: `档案编号「${rec.healthRecordNo}」应为 17 位数字（县6+街道3+居委会3+序号5）`, en: 'record number must be 17 digits' });
  // Consistency: fields that must agree with each other.
  if (res.idType === '01' && res.idNumber) {
    const c = checkResidentId(res.idNumber);
    if (!c.ok) out.push({ kind: 'consistency', field: 'idNumber', zh: `身份证号码校验不通过：${c.reason}`, en: `ID number invalid: ${c.reason}` });
    else {
      if (res.birthDate && c.birthDate !== res.birthDate) out.push({ kind: 'consistency', field: 'birthDate', zh: `出生日期 ${res.birthDate} 与身份证号中的出生日期 ${c.birthDate} 不一致`, en: 'birth date differs from the ID number' });
      if ((res.sex === '1' || res.sex === '2') && c.sex !== res.sex) out.push({ kind: 'consistency', field: 'sex', zh: `性别（${res.sex === '1' ? '男' : '女'}）与身份证号第17位（${c.sex === '1' ? '男' : '女'}）不一致`, en: 'sex differs from the ID number' });
    }
  }
  if (rec.status === 'migrated' && (!rec.migratedToClinicId || !rec.migratedDate)) out.push({ kind: 'consistency', field: 'migratedToClinicId', zh: '状态为「已迁出」但未填写迁入机构或迁出日期', en: 'migrated without target clinic or date' });
  if (rec.status === 'cancelled' && (!rec.cancelReason || !rec.cancelledDate)) out.push({ kind: 'consistency', field: 'cancelReason', zh: '状态为「已注销」但未填写注销原因或日期', en: 'cancelled without reason or date' });
  if (rec.cancelReason === 'duplicate' && !rec.mergedIntoRecordNo) out.push({ kind: 'consistency', field: 'mergedIntoRecordNo', zh: '因重复注销的档案必须注明合并到的档案编号', en: 'duplicate cancellation must name the surviving record' });
  return out;
}

export interface DupCandidate { residentId: string; name: string; sex: string; birthDate: string; idNumber: string; phone?: string | null; healthRecordNo?: string | null }

/**
 * Possible duplicates of `res` among `others` (other residents holding a record):
 * same ID number (certain), same name + sex + birth date (likely), same name + phone (likely).
 */
export function findDuplicates(res: QcResident, others: readonly DupCandidate[]): (QcIssue & { otherResidentId: string; certainty: 'certain' | 'likely' })[] {
  const out: (QcIssue & { otherResidentId: string; certainty: 'certain' | 'likely' })[] = [];
  for (const o of others) {
    if (o.residentId === res.residentId) continue;
    const tag = `${o.name}（${o.healthRecordNo ?? o.residentId}）`;
    if (o.idNumber && res.idNumber && o.idNumber.toUpperCase() === res.idNumber.toUpperCase()) out.push({ kind: 'duplicate', field: 'idNumber', zh: `与 ${tag} 身份证号相同`, en: `same ID number as ${o.residentId}`, otherResidentId: o.residentId, certainty: 'certain' });
    else if (o.name === res.name && o.sex === res.sex && o.birthDate === res.birthDate) out.push({ kind: 'duplicate', field: 'name', zh: `与 ${tag} 姓名、性别、出生日期相同`, en: `same name, sex and birth date as ${o.residentId}`, otherResidentId: o.residentId, certainty: 'likely' });
    else if (o.name === res.name && res.phone && o.phone === res.phone) out.push({ kind: 'duplicate', field: 'phone', zh: `与 ${tag} 姓名、电话相同`, en: `same name and phone as ${o.residentId}`, otherResidentId: o.residentId, certainty: 'likely' });
  }
  return out;
}
