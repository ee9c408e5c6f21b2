/**
 * Starter dictionaries for a primary-care network (version 1 at a fresh central).
 * ICD-10 codes follow the national clinical edition 2.0 style (6-character extension codes).
 * Drug codes are SAMPLE national drug codes (本位码 structure: 86 9 + 10 digits + check),
 * not registered products: a district replaces them with its formulary import.
 */
import type { DictionaryItem, DictionaryName } from '../../contracts/index.ts';

const item = (code: string, name: string, attrs: DictionaryItem['attrs'] = {}): DictionaryItem => ({ code, name, attrs, active: true });

/** Mod-10 (Luhn) check digit over the first 13 digits of a drug code. */
export function drugCodeCheckDigit(first13: string): string {
  let sum = 0;
  for (let i = 0; i < first13.length; i++) {
    let d = Number(first13[first13.length - 1 - i]);
    if (i % 2 === 0) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

const departments: DictionaryItem[] = [
  item('GP', '全科诊室', { en: 'General practice' }),
  item('IM', '内科', { en: 'Internal medicine' }),
  item('SURG', '外科', { en: 'Surgery' }),
  item('GYN', '妇科', { en: 'Gynaecology' }),
  item('PED', '儿科', { en: 'Paediatrics' }),
  item('TCM', '中医科', { en: 'Traditional Chinese medicine' }),
  item('DENT', '口腔科', { en: 'Dentistry' }),
  item('REHAB', '康复科', { en: 'Rehabilitation' }),
  item('PREV', '预防保健科', { en: 'Preventive care' }),
  item('VACC', '预防接种门诊', { en: 'Vaccination clinic' }),
  item('LAB', '检验科', { en: 'Laboratory' }),
  item('RAD', '放射科', { en: 'Radiology (DR)' }),
  item('US', 'B超室', { en: 'Ultrasound room' }),
  item('ECG', '心电图室', { en: 'ECG room' }),
  item('PHARM', '药房', { en: 'Pharmacy' }),
  item('INF', '输液室', { en: 'Infusion room' }),
  item('FEVER', '发热诊室', { en: 'Fever clinic' }),
];

const staff: DictionaryItem[] = [
  item('D0001', '张建华', { role: 'doctor', department: 'GP', title: '主治医师' }),
  item('D0002', '李秀梅', { role: 'doctor', department: 'IM', title: '副主任医师' }),
  item('D0003', '王志强', { role: 'doctor', department: 'TCM', title: '主治医师' }),
  item('D0004', '陈丽娟', { role: 'doctor', department: 'PED', title: '住院医师' }),
  item('N0001', '刘晓燕', { role: 'nurse', department: 'INF', title: '主管护师' }),
  item('N0002', '赵敏', { role: 'nurse', department: 'PREV', title: '护师' }),
  item('P0001', '孙立新', { role: 'pharmacist', department: 'PHARM', title: '主管药师' }),
  item('T0001', '周海涛', { role: 'lab_technician', department: 'LAB', title: '检验师' }),
  item('T0002', '吴国庆', { role: 'imaging_technician', department: 'RAD', title: '技师' }),
  item('R0001', '郑小红', { role: 'registrar', department: 'GP', title: '收费员' }),
];

const icd10: DictionaryItem[] = [
  ['I10.x00', '原发性高血压'], ['I11.900', '高血压性心脏病'], ['I25.103', '冠状动脉粥样硬化性心脏病'], ['I63.900', '脑梗死'],
  ['I69.300', '脑梗死后遗症'], ['E11.900', '2型糖尿病'], ['E11.400', '2型糖尿病伴神经并发症'], ['E78.500', '高脂血症'],
  ['E03.900', '甲状腺功能减退症'], ['J06.900', '急性上呼吸道感染'], ['J20.900', '急性支气管炎'], ['J18.900', '肺炎'],
  ['J44.900', '慢性阻塞性肺疾病'], ['J45.900', '哮喘'], ['J02.900', '急性咽炎'], ['J03.900', '急性扁桃体炎'],
  ['K29.700', '胃炎'], ['K21.900', '胃食管反流病'], ['K59.000', '便秘'], ['A09.900', '感染性腹泻'],
  ['K52.900', '非感染性胃肠炎'], ['N39.000', '泌尿道感染'], ['M54.500', '腰痛'], ['M17.900', '膝关节病'],
  ['M81.900', '骨质疏松'], ['M79.100', '肌痛'], ['G43.900', '偏头痛'], ['R51.x00', '头痛'],
  ['R50.900', '发热'], ['R05.x00', '咳嗽'], ['F32.900', '抑郁发作'], ['F41.100', '广泛性焦虑障碍'],
  ['G47.000', '失眠'], ['H10.900', '结膜炎'], ['L30.900', '皮炎'], ['L50.900', '荨麻疹'],
  ['B01.900', '水痘'], ['B02.900', '带状疱疹'], ['U07.100', '新型冠状病毒感染'], ['J11.100', '流行性感冒'],
  ['W54.x00', '犬咬伤'], ['T14.000', '浅表损伤'], ['Z00.000', '一般医学检查'], ['Z00.100', '儿童常规健康检查'],
  ['Z23.x00', '需要预防接种'], ['Z34.900', '正常妊娠监督'], ['Z71.300', '饮食咨询和监测'], ['N95.100', '绝经期综合征'],
  ['D64.900', '贫血'], ['I50.900', '心力衰竭'], ['I48.x00', '心房颤动'], ['N18.900', '慢性肾脏病'],
  // Notifiable infectious diseases (法定传染病) seen in primary care, for the infectious-disease reminder.
  ['A00.900', '霍乱'], ['A01.000', '伤寒'], ['A03.900', '细菌性痢疾'], ['A04.900', '细菌性肠道感染'], ['A08.400', '病毒性肠炎'],
  ['A15.000', '肺结核'], ['A38.x00', '猩红热'], ['A82.900', '狂犬病'], ['A90.x00', '登革热'], ['B05.900', '麻疹'],
  ['B06.900', '风疹'], ['B08.400', '手足口病'], ['B16.900', '急性乙型病毒性肝炎'], ['B18.100', '慢性乙型病毒性肝炎'],
  ['B20.900', '艾滋病'], ['B26.900', '流行性腮腺炎'], ['B30.300', '急性出血性结膜炎'], ['A51.900', '早期梅毒'],
  ['A54.900', '淋病'], ['A37.900', '百日咳'], ['J09.x00', '人感染H7N9禽流感'], ['B50.900', '恶性疟'],
  ['T14.100', '开放性伤口'], ['W55.x00', '被其他哺乳动物咬伤'],
].map(([code, name]) => item(code!, name!, { edition: '国家临床版2.0' }));

const drugRows: [string, string, string, string, number, boolean][] = [
  // name, spec, unit, route, price (fen), volume-based procurement (带量采购)
  ['苯磺酸氨氯地平片', '5mg*28片', '盒', '口服', 1260, true],
  ['硝苯地平控释片', '30mg*7片', '盒', '口服', 2380, true],
  ['厄贝沙坦片', '0.15g*28片', '盒', '口服', 1590, true],
  ['缬沙坦胶囊', '80mg*28粒', '盒', '口服', 1720, true],
  ['氯沙坦钾片', '50mg*14片', '盒', '口服', 980, true],
  ['酒石酸美托洛尔片', '25mg*20片', '盒', '口服', 420, false],
  ['氢氯噻嗪片', '25mg*100片', '瓶', '口服', 350, false],
  ['二甲双胍缓释片', '0.5g*30片', '盒', '口服', 890, true],
  ['格列美脲片', '2mg*30片', '盒', '口服', 1150, true],
  ['阿卡波糖片', '50mg*30片', '盒', '口服', 1980, true],
  ['门冬胰岛素注射液', '3ml:300单位', '支', '皮下注射', 4320, true],
  ['阿托伐他汀钙片', '20mg*28片', '盒', '口服', 1470, true],
  ['瑞舒伐他汀钙片', '10mg*28片', '盒', '口服', 1350, true],
  ['阿司匹林肠溶片', '100mg*30片', '盒', '口服', 1580, false],
  ['氯吡格雷片', '75mg*28片', '盒', '口服', 2660, true],
  ['阿莫西林胶囊', '0.25g*24粒', '盒', '口服', 850, false],
  ['头孢呋辛酯片', '0.25g*12片', '盒', '口服', 1890, true],
  ['左氧氟沙星片', '0.5g*6片', '盒', '口服', 1260, true],
  ['阿奇霉素片', '0.25g*6片', '盒', '口服', 1420, true],
  ['布洛芬缓释胶囊', '0.3g*20粒', '盒', '口服', 1080, false],
  ['对乙酰氨基酚片', '0.5g*12片', '盒', '口服', 560, false],
  ['奥美拉唑肠溶胶囊', '20mg*14粒', '盒', '口服', 960, true],
  ['蒙脱石散', '3g*10袋', '盒', '口服', 1250, false],
  ['氯化钠注射液', '0.9% 250ml', '瓶', '静脉滴注', 380, false],
  ['葡萄糖注射液', '5% 250ml', '瓶', '静脉滴注', 400, false],
  ['复方甘草片', '100片', '瓶', '口服', 650, false],
  ['连花清瘟胶囊', '0.35g*24粒', '盒', '口服', 1480, false],
  ['板蓝根颗粒', '10g*20袋', '盒', '口服', 1280, false],
  ['狂犬病疫苗(Vero细胞)', '0.5ml', '支', '肌内注射', 18500, false],
  ['破伤风人免疫球蛋白', '250IU', '支', '肌内注射', 24000, false],
];
const drugs: DictionaryItem[] = drugRows.map(([name, spec, unit, route, priceFen, vbp], i) => {
  const first13 = `869${String(8000000000 + i * 7919).padStart(10, '0')}`;
  // category drives the charge category at the edge (western_drug / patent_drug 中成药 / tcm_drug 中草药)
  const category = ['连花清瘟胶囊', '板蓝根颗粒'].includes(name) ? 'patent_drug' : 'western_drug';
  return item(first13 + drugCodeCheckDigit(first13), name, { spec, unit, route, priceFen, volumeProcurement: vbp, category, sample: true });
});

const chargeItems: DictionaryItem[] = [
  ['110200001', '普通门诊诊查费', 1000], ['110200002', '全科医生诊查费', 1500], ['110100001', '挂号费', 100],
  ['250101015', '血常规（五分类）', 2000], ['250102001', '尿常规', 800], ['250301001', '肝功能', 3500],
  ['250302001', '肾功能', 2500], ['250303001', '血脂四项', 3000], ['250304001', '空腹血糖', 500],
  ['250305001', '糖化血红蛋白', 5000], ['220201001', 'B超常规检查（腹部）', 6000], ['220201002', '彩色多普勒超声（甲状腺）', 8000],
  ['210102001', 'DR摄影（胸部正位）', 7000], ['310701001', '常规心电图', 1500], ['120400001', '静脉输液', 500],
  ['120400002', '肌肉注射', 300], ['120100001', '换药（小）', 1000], ['440000001', '中医体质辨识', 2000],
  ['120900001', '家庭病床建床费', 2000], ['330000001', '清创缝合（小）', 8000],
  ['220201003', '彩色多普勒超声（颈动脉）', 9000], ['210102002', 'DR摄影（腰椎正侧位）', 12000], ['120400003', '皮下注射', 300],
].map(([code, name, priceFen]) => item(String(code), String(name), { priceFen: Number(priceFen), unit: '次', category: chargeCategory(String(code)) }));

/** Charge category by the national service price code (11 consultation, 21/22 imaging, 25 lab, 31 exams, others treatment). */
function chargeCategory(code: string): string {
  if (code === '110100001') return 'registration';
  if (code.startsWith('25')) return 'lab';
  if (code.startsWith('21') || code.startsWith('22')) return 'imaging';
  if (code.startsWith('11') || code.startsWith('31')) return 'exam';
  return 'treatment';
}

export const starterDictionaries: Record<DictionaryName, DictionaryItem[]> = {
  departments,
  staff,
  icd10,
  drugs,
  charge_items: chargeItems,
};
