/**
 * Messages central could not apply (`dead_letters`, [spine]: "bad records go to a dead-letter
 * table at central with the reason"), for the network operators and managers who watch the data
 * flow (tender 1.2.2: real-time monitoring and audit of data flow): what each reason means and
 * what to do about it, counts per clinic and reason, and the messages themselves, newest first,
 * with the start of each as received.
 */
import { DEAD_LETTER_NAMES, DEAD_LETTER_REASONS, type DeadLetterReason } from '../../contracts/index.ts';
import type { TableSpec } from './excel.ts';
import { CardHead, localTime, withQuery, type Ctx } from './layout.tsx';

/** Per reason: its name, and what an operator does about it (zh, en). */
export const DEAD_LETTER_TEXT: Record<DeadLetterReason, { name: [string, string]; action: [string, string] }> = {
  oversize: { name: DEAD_LETTER_NAMES.oversize, action: ['边缘程序发送了超过上限的消息：核对该机构边缘节点的程序版本。', 'The edge sent a message above the size limit: check the clinic edge agent\'s version.'] },
  not_json: { name: DEAD_LETTER_NAMES.not_json, action: ['消息无法解析，可能是伪造或损坏：核对该主题的发布者（NATS 账号）。', 'The message cannot be parsed (forged or corrupted): check who publishes on that subject (its NATS user).'] },
  bad_envelope: { name: DEAD_LETTER_NAMES.bad_envelope, action: ['缺少记录编号、序号等必填项：核对发布者与程序版本。', 'Record id, sequence or another required field is missing: check the publisher and its version.'] },
  unknown_type: { name: DEAD_LETTER_NAMES.unknown_type, action: ['边缘程序比中心新：升级中心后，此类记录需由该机构重新发送（数据同步页“从本站回补中心数据”）。', 'The edge is newer than central: upgrade central, then have the clinic re-send (Sync page, "Re-seed central from this clinic").'] },
  schema: { name: DEAD_LETTER_NAMES.schema, action: ['记录内容不合规范（详情列出字段）：由该机构核对并更正原记录。', 'The record\'s content breaks its schema (the detail names the fields): the clinic checks and corrects the original record.'] },
  clinic_mismatch: { name: DEAD_LETTER_NAMES.clinic_mismatch, action: ['消息自称属于另一机构，与发布主题所属机构不一致，未入库：作为安全事件核查发布主题所属机构的账号。', 'The message claims another clinic than its subject\'s; not applied: investigate as a security event, starting with the account of the subject\'s clinic.'] },
  type_mismatch: { name: DEAD_LETTER_NAMES.type_mismatch, action: ['记录类型与发布主题不一致：核对发布者与程序版本。', 'The record type differs from its subject\'s: check the publisher and its version.'] },
  unsupported_schema_version: { name: DEAD_LETTER_NAMES.unsupported_schema_version, action: ['边缘使用了中心尚不支持的数据规范版本：升级中心。', 'The edge uses a schema version central does not support yet: upgrade central.'] },
  seq_collision: { name: DEAD_LETTER_NAMES.seq_collision, action: ['同一序号收到了不同内容（边缘数据库被替换或从旧备份恢复）：联系该机构核查，中心保留先到的记录。', 'Different content arrived for a sequence already used (the edge database was replaced or restored from an old backup): contact the clinic; central keeps the first.'] },
  apply_error: { name: DEAD_LETTER_NAMES.apply_error, action: ['中心写入时出错：查看中心日志；修复后由该机构重新发送。', 'Central failed to write it: see central\'s log; after the fix the clinic re-sends.'] },
  lost_at_source: { name: DEAD_LETTER_NAMES.lost_at_source, action: ['回补时边缘已不再保存该序号的原始记录（已被新版本取代等），只作记录，无需处理。', 'When the clinic re-seeded, it no longer held that sequence as written (superseded by a later version): recorded, nothing to do.'] },
};

export const reasonName = (ctx: Ctx, r: string) => (r in DEAD_LETTER_TEXT ? ctx.t(...DEAD_LETTER_TEXT[r as DeadLetterReason].name) : r);

export interface DeadLetterView {
  id: number; subject: string; clinicId: string | null; seq: number | null; reason: string; detail: string; receivedAt: string; rawPreview: string; rawBytes: number;
}

export function summaryTable(ctx: Ctx, rows: { clinicId: string | null; reason: string; n: number; lastAt: string }[], clinicName: (id: string | null) => string): TableSpec {
  return {
    id: 'dead-summary', title: ctx.t('按机构与原因汇总', 'By clinic and reason'),
    columns: [{ key: 'clinic', label: ctx.t('节点', 'Clinic') }, { key: 'reasonName', label: ctx.t('原因', 'Reason') }, { key: 'n', label: ctx.t('条数', 'Messages'), kind: 'number' }, { key: 'lastAt', label: ctx.t('最近一次', 'Latest') }, { key: 'action', label: ctx.t('处理办法', 'What to do') }],
    rows: rows.map((r) => ({
      clinic: clinicName(r.clinicId), clinicId: r.clinicId, reason: r.reason, reasonName: reasonName(ctx, r.reason), n: r.n, lastAt: localTime(r.lastAt),
      action: r.reason in DEAD_LETTER_TEXT ? ctx.t(...DEAD_LETTER_TEXT[r.reason as DeadLetterReason].action) : '', _bad: r.reason !== 'lost_at_source',
    })),
    href: (r) => withQuery('/portal/dead-letters', { clinic: (r.clinicId as string | null) ?? null, reason: r.reason as string }),
  };
}

export function listTable(ctx: Ctx, rows: DeadLetterView[], clinicName: (id: string | null) => string): TableSpec {
  return {
    id: 'dead-letters', title: ctx.t('无法入库的消息（最新在前）', 'Messages not applied (newest first)'),
    columns: [{ key: 'id', label: ctx.t('编号', 'No.'), kind: 'number' }, { key: 'at', label: ctx.t('接收时间', 'Received') }, { key: 'clinic', label: ctx.t('节点', 'Clinic') }, { key: 'seq', label: ctx.t('序号', 'Seq'), kind: 'number' }, { key: 'reasonName', label: ctx.t('原因', 'Reason') }, { key: 'detail', label: ctx.t('详情', 'Detail') }, { key: 'subject', label: ctx.t('主题', 'Subject') }, { key: 'rawBytes', label: ctx.t('字节数', 'Bytes'), kind: 'number' }, { key: 'rawPreview', label: ctx.t('内容开头', 'Start of the message') }],
    rows: rows.map((r) => ({ ...r, at: localTime(r.receivedAt), clinic: clinicName(r.clinicId), reasonName: reasonName(ctx, r.reason) })),
  };
}

/** The list with each message's start behind a disclosure (the Excel export has it as a column). */
export function DeadLetterList(props: { ctx: Ctx; table: TableSpec; next: string | null }) {
  const { ctx, table } = props;
  return (
    <div class="card">
      <CardHead ctx={ctx} table={table} />
      {table.rows.length === 0 ? <p class="hint">{ctx.t('没有无法入库的消息。', 'No message was refused.')}</p> : (
        <table class="dead" data-testid={`table-${table.id}`}>
          <thead><tr>{table.columns.filter((c) => c.key !== 'rawPreview' && c.key !== 'rawBytes').map((c) => <th class={c.kind === 'number' ? 'num' : ''}>{c.label}</th>)}</tr></thead>
          <tbody>
            {table.rows.map((r) => (
              <tr class={r.reason === 'lost_at_source' ? '' : 'bad'} data-testid="dead-letter">
                <td class="num">{String(r.id)}</td>
                <td>{String(r.at)}</td>
                <td>{String(r.clinic)}</td>
                <td class="num">{r.seq === null ? '—' : String(r.seq)}</td>
                <td>{String(r.reasonName)}</td>
                <td class="detail">{String(r.detail)}
                  <details class="raw"><summary>{ctx.t(`原始内容（${r.rawBytes} 字节，显示开头）`, `As received (${r.rawBytes} bytes, start shown)`)}</summary><pre>{String(r.rawPreview)}</pre></details>
                </td>
                <td><code>{String(r.subject)}</code></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.next && <p class="noprint"><a href={props.next} data-testid="dead-letters-older">{ctx.t('更早的消息 →', 'Older messages →')}</a></p>}
    </div>
  );
}

export const DEAD_LETTER_REASON_LIST: readonly DeadLetterReason[] = DEAD_LETTER_REASONS;
