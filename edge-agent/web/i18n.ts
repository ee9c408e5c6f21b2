/** zh-CN first, English available (`?lang=en` or the language switch, kept in a cookie). */
export type Lang = 'zh-CN' | 'en';

const zh = {
  appName: '社区卫生服务信息系统',
  login: '登录', logout: '退出', username: '用户名', password: '密码',
  badCredentials: '用户名或密码错误', locked: '账号已锁定，请于 {until} 后重试或联系管理员', inactive: '账号已停用，请联系管理员',
  home: '首页', sync: '数据同步', users: '用户管理', audit: '审计日志',
  syncStatus: '同步状态', relay: '上传通道', connected: '已连接', backoff: '重试中', disconnected: '未连接', stopped: '已停止',
  outboxDepth: '待上传记录', lastSeq: '本地最新序号', receiptSeq: '中心已确认序号', lastReceipt: '最近确认时间', oldestPending: '最早待上传',
  dictionaries: '标准字典', version: '版本', never: '从未', secondsAgo: '{n} 秒前', offlineHint: '网络中断时本机照常工作，恢复后自动补传，数据不会丢失。',
  createUser: '新建用户', displayName: '姓名', role: '角色', create: '创建', created: '已创建用户 {u}', status: '状态', active: '启用', lockedShort: '锁定',
  forbidden: '无权访问此页面', forbiddenHint: '您的角色（{role}）不能使用此功能。如需权限请联系本机构管理员。',
  time: '时间', user: '用户', action: '操作', target: '对象', source: '来源', outcome: '结果',
  clinic: '机构', language: 'English',
  reseedAlarm: '中心数据少于本站已确认上传的记录：中心只确认到序号 {central}，本站已确认到 {held}。中心可能从较早的备份恢复，而消息总线已不再保存其间的记录。',
  reseedAlarmHint: '本站记录不受影响，新记录照常上传（中心暂存在缺口之后）。请由本机构管理员从本站回补中心数据。',
  reseedExplain: '回补将把序号 {from}–{to} 的记录从本站重新上传：每条记录以其最新版本上传；其间被更新覆盖的旧版本本站未保留，将作为“来源已丢失”登记在中心的死信中，供复核。',
  reseedButton: '从本站回补中心数据', reseedStarted: '已开始回补：{rebuilt} 条记录重新上传，{lost} 个序号登记为丢失（旧版本已被覆盖）。',
  reseedBanner: '中心缺少本站已确认上传的记录（中心可能从较早的备份恢复）。', reseedBannerLink: '前往数据同步页回补',
  reseedLast: '最近一次回补：{at}，序号 {from}–{to}，重新上传 {rebuilt} 条，登记丢失 {lost} 个。', reseedRefused: '无法回补：{reason}',
  dict_departments: '科室', dict_staff: '人员', dict_icd10: 'ICD-10 诊断', dict_drugs: '药品', dict_charge_items: '收费项目',
  role_registrar: '挂号员', role_doctor: '医生', role_nurse: '护士', role_pharmacist: '药剂师', role_cashier: '收费员',
  role_lab_tech: '检验技师', role_imaging_tech: '影像技师', role_device_tech: '设备技术员', role_clinic_admin: '机构管理员',
};
type Key = keyof typeof zh;
const en: Record<Key, string> = {
  appName: 'Community Health Information System',
  login: 'Sign in', logout: 'Sign out', username: 'Username', password: 'Password',
  badCredentials: 'Wrong username or password', locked: 'Account locked until {until}; try later or ask an administrator', inactive: 'Account disabled; ask an administrator',
  home: 'Home', sync: 'Sync', users: 'Users', audit: 'Audit log',
  syncStatus: 'Sync status', relay: 'Upload channel', connected: 'connected', backoff: 'retrying', disconnected: 'disconnected', stopped: 'stopped',
  outboxDepth: 'Records waiting to upload', lastSeq: 'Latest local seq', receiptSeq: 'Confirmed by central', lastReceipt: 'Last confirmation', oldestPending: 'Oldest waiting',
  dictionaries: 'Standard dictionaries', version: 'Version', never: 'never', secondsAgo: '{n} s ago', offlineHint: 'The clinic keeps working when the network is down; everything uploads when it returns, nothing is lost.',
  createUser: 'New user', displayName: 'Name', role: 'Role', create: 'Create', created: 'User {u} created', status: 'Status', active: 'active', lockedShort: 'locked',
  forbidden: 'Not allowed', forbiddenHint: 'Your role ({role}) cannot use this page. Ask your clinic administrator for access.',
  time: 'Time', user: 'User', action: 'Action', target: 'Target', source: 'From', outcome: 'Outcome',
  clinic: 'Clinic', language: '中文',
  reseedAlarm: 'Central holds fewer records than it confirmed to this clinic: it confirms seq {central}, this clinic holds a confirmation up to {held}. Central was probably restored from an older backup that the message bus no longer covers.',
  reseedAlarmHint: 'Nothing is lost here and new records keep uploading (central holds them back behind the gap). A clinic administrator re-seeds central from this clinic.',
  reseedExplain: 'The re-seed uploads seqs {from}–{to} again from this clinic: each record in its latest version; older versions a later one replaced inside that range are not kept here and are logged at central as lost at source (dead letters, for review).',
  reseedButton: 'Re-seed central from this clinic', reseedStarted: 'Re-seed started: {rebuilt} records uploaded again, {lost} seqs logged as lost (older versions replaced).',
  reseedBanner: 'Central lacks records it had confirmed to this clinic (restored from an older backup?).', reseedBannerLink: 'Re-seed it from the Sync page',
  reseedLast: 'Last re-seed: {at}, seqs {from}–{to}, {rebuilt} records uploaded again, {lost} logged as lost.', reseedRefused: 'Cannot re-seed: {reason}',
  dict_departments: 'Departments', dict_staff: 'Staff', dict_icd10: 'ICD-10 diagnoses', dict_drugs: 'Drugs', dict_charge_items: 'Charge items',
  role_registrar: 'Registrar', role_doctor: 'Doctor', role_nurse: 'Nurse', role_pharmacist: 'Pharmacist', role_cashier: 'Cashier',
  role_lab_tech: 'Lab technician', role_imaging_tech: 'Imaging technician', role_device_tech: 'Device technician', role_clinic_admin: 'Clinic administrator',
};

export type T = (key: Key, vars?: Record<string, string | number>) => string;

export function translator(lang: Lang): T {
  const table = lang === 'en' ? en : zh;
  return (key, vars) => table[key].replace(/\{(\w+)\}/g, (_, v: string) => String(vars?.[v] ?? ''));
}
