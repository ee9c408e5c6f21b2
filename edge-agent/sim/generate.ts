/** Synthetic but realistic clinic data: residents with valid GB 11643 IDs, visits, readings. */
import { uuidv7 } from '../../contracts/ids.ts';
import { makeResidentId, type RecordPayload } from '../../contracts/index.ts';

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '徐', '孙', '马', '朱', '胡', '郭', '何', '林', '罗', '高'];
const GIVEN = ['伟', '芳', '娜', '秀英', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '艳', '杰', '娟', '涛', '明', '超', '秀兰', '霞', '平', '刚', '桂英', '建国', '淑珍'];
const AREA_CODES = ['440305', '440304', '440303'];
const DEPTS = ['GP', 'IM', 'TCM', 'PREV'];
const DIAG: [string, string][] = [['I10.x00', '原发性高血压'], ['E11.900', '2型糖尿病'], ['J06.900', '急性上呼吸道感染'], ['K29.700', '胃炎'], ['M54.500', '腰痛'], ['J20.900', '急性支气管炎']];

/** Small deterministic PRNG so that a seed reproduces a data set. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >> 17;
    s ^= s << 5; s >>>= 0;
    return s / 0x100000000;
  };
}

const pick = <T>(r: () => number, a: readonly T[]): T => a[Math.floor(r() * a.length)]!;

export function makeResident(r: () => number): RecordPayload<'resident'> {
  const year = 1935 + Math.floor(r() * 80);
  const birth = new Date(Date.UTC(year, Math.floor(r() * 12), 1 + Math.floor(r() * 28)));
  const idNumber = makeResidentId(pick(r, AREA_CODES), birth, Math.floor(r() * 1000));
  const sex = Number(idNumber[16]) % 2 === 1 ? '1' : '2';
  return {
    residentId: uuidv7(),
    name: pick(r, SURNAMES) + pick(r, GIVEN),
    sex,
    birthDate: birth.toISOString().slice(0, 10),
    idType: '01',
    idNumber,
    ethnicity: '01',
    phone: `13${Math.floor(100000000 + r() * 899999999)}`,
  };
}

export function makeEncounter(r: () => number, residentId: string): RecordPayload<'encounter'> {
  const [code, name] = pick(r, DIAG);
  return {
    encounterId: uuidv7(),
    residentId,
    class: 'outpatient',
    status: 'finished',
    departmentCode: pick(r, DEPTS),
    registeredAt: new Date().toISOString(),
    diagnoses: [{ code, name, primary: true }],
    feeFen: 1000 + Math.floor(r() * 20000),
  };
}

export function makeBloodPressure(r: () => number, residentId: string, deviceId: string): RecordPayload<'observation'>[] {
  const sys = Math.round(100 + r() * 80);
  const dia = Math.round(60 + r() * 45);
  const at = new Date().toISOString();
  return [
    { observationId: uuidv7(), residentId, code: '8480-6', display: '收缩压 Systolic BP', value: sys, unit: 'mm[Hg]', effectiveAt: at, deviceId, interpretation: sys >= 180 ? 'HH' : sys >= 140 ? 'H' : 'N' },
    { observationId: uuidv7(), residentId, code: '8462-4', display: '舒张压 Diastolic BP', value: dia, unit: 'mm[Hg]', effectiveAt: at, deviceId, interpretation: dia >= 110 ? 'HH' : dia >= 90 ? 'H' : 'N' },
  ];
}
