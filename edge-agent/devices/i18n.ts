/** Strings of the devices module (zh-CN first, English); the shell's i18n.ts stays untouched. */
import type { Lang } from '../web/i18n.ts';

const zh = {
  nav: '设备管理', navAlerts: '危急值', devices: '设备管理', register: '登记设备', profile: '设备模板', name: '设备名称', room: '房间/工位',
  connection: '连接', host: '地址', port: '端口', serialPath: '串口', baudRate: '波特率', sourceName: '设备发送名称（HL7 MSH-3 / ASTM H-5）',
  aeTitle: 'AE Title（DICOM）', modality: '检查类型', pollInterval: '轮询间隔（毫秒）', enabled: '启用', save: '保存', status: '状态',
  online: '在线', offline: '离线', error: '错误', disabled: '停用', lastReading: '最近读数', errors: '错误次数', readings: '读数',
  test: '测试连接', enable: '启用', disable: '停用', edit: '编辑', testOk: '连接正常', testFail: '连接失败',
  currentPatient: '当前患者', choose: '选择', none: '（无）', clear: '清除', residentIdOrCard: '居民编号或身份证号',
  unbound: '待关联读数', unboundHint: '以下读数未能自动关联居民，请选择居民后确认；读数不会被丢弃。', bind: '关联', value: '数值', time: '时间', device: '设备',
  patientIdSent: '设备发送的患者号', specimen: '标本号', implausible: '不合理', critical: '危急值',
  ranges: '危急值范围（本机构）', quantity: '项目', low: '下限', high: '上限', inclusive: '含边界', defaultRange: '模板默认', reset: '恢复默认',
  alertsTitle: '危急值', alertBanner: '有 {n} 条危急值待确认', ackTitle: '危急值确认', readBack: '复述内容（患者、项目、数值）', ack: '确认',
  ackedBy: '确认人', ackedAt: '确认时间', raisedAt: '发生时间', resident: '居民', unboundResident: '（未关联）', history: '危急值记录',
  listeners: '监听端口', listenerOff: '未启用', unknownSenders: '未登记的发送方（已拒收）', count: '次数', kind: '类型', created: '已登记设备 {n}', updated: '已保存',
  bound: '已关联', acked: '已确认', interpretation: '判读', recentReadings: '最近读数', back: '返回',
};
type Key = keyof typeof zh;
const en: Record<Key, string> = {
  nav: 'Devices', navAlerts: 'Critical values', devices: 'Devices', register: 'Register a device', profile: 'Profile', name: 'Device name', room: 'Room / station',
  connection: 'Connection', host: 'Host', port: 'Port', serialPath: 'Serial port', baudRate: 'Baud rate', sourceName: 'Name the device sends (HL7 MSH-3 / ASTM H-5)',
  aeTitle: 'AE title (DICOM)', modality: 'Modality', pollInterval: 'Poll interval (ms)', enabled: 'Enabled', save: 'Save', status: 'Status',
  online: 'online', offline: 'offline', error: 'error', disabled: 'disabled', lastReading: 'Last reading', errors: 'Errors', readings: 'Readings',
  test: 'Test connection', enable: 'Enable', disable: 'Disable', edit: 'Edit', testOk: 'Connection OK', testFail: 'Connection failed',
  currentPatient: 'Current patient', choose: 'Set', none: '(none)', clear: 'Clear', residentIdOrCard: 'Resident id or ID number',
  unbound: 'Unbound readings', unboundHint: 'These readings could not be matched to a resident. Choose the resident; nothing is discarded.', bind: 'Bind', value: 'Value', time: 'Time', device: 'Device',
  patientIdSent: 'Patient id sent', specimen: 'Specimen', implausible: 'implausible', critical: 'critical',
  ranges: 'Critical ranges (this institution)', quantity: 'Quantity', low: 'Low', high: 'High', inclusive: 'Inclusive', defaultRange: 'Profile default', reset: 'Reset',
  alertsTitle: 'Critical values', alertBanner: '{n} critical value(s) to acknowledge', ackTitle: 'Acknowledge critical value', readBack: 'Read-back (patient, test, value)', ack: 'Acknowledge',
  ackedBy: 'Acknowledged by', ackedAt: 'Acknowledged at', raisedAt: 'Raised', resident: 'Resident', unboundResident: '(unbound)', history: 'Critical value log',
  listeners: 'Listeners', listenerOff: 'off', unknownSenders: 'Unregistered senders (refused)', count: 'Count', kind: 'Kind', created: 'Device {n} registered', updated: 'Saved',
  bound: 'bound', acked: 'acknowledged', interpretation: 'Flag', recentReadings: 'Recent readings', back: 'Back',
};
export type DT = (key: Key, vars?: Record<string, string | number>) => string;
export function dt(lang: Lang): DT {
  const table = lang === 'en' ? en : zh;
  return (key, vars) => table[key].replace(/\{(\w+)\}/g, (_, v: string) => String(vars?.[v] ?? ''));
}
