/**
 * POST DiagnosticReport from a third party (e.g. the district hospital's LIS): the report's
 * results, sent as `contained` laboratory Observations referenced from `result` ("#id"), become
 * lab_result records of the writing client (source ext-<client>), all with the report's new id
 * as their orderId, so the report reads back as DiagnosticReport/<id>. Results that are only
 * referenced (Observation/<id> on this server) are refused with 422: a stored result is not
 * re-attached to another report. Everything is checked before anything is written.
 */
import { recordTypes } from '../../contracts/index.ts';
import { OperationOutcomeError, type HttpStatus, type IssueType } from './outcome.ts';
import { CS } from './systems.ts';
import { parseWrite, type ParsedWrite } from './write.ts';

const bad = (msg: string, expr?: string) => new OperationOutcomeError(400, 'structure', msg, expr);
const unprocessable = (code: 'required' | 'not-supported' | 'business-rule', msg: string, expr?: string) => new OperationOutcomeError(422, code, msg, expr);
const MAX_RESULTS = 100;
const ALLOWED = new Set(['resourceType', 'id', 'meta', 'text', 'identifier', 'basedOn', 'status', 'category', 'code', 'subject', 'effectiveDateTime', 'issued', 'performer', 'specimen', 'result', 'contained', 'conclusion']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The report's results as lab_result writes, ids from `newId`. */
export function parseDiagnosticReport(body: unknown, reportId: string, newId: () => string): ParsedWrite[] {
  if (!isObj(body)) throw bad('the body must be a FHIR resource (a JSON object)');
  if (body.resourceType !== 'DiagnosticReport') throw bad(`resourceType ${JSON.stringify(body.resourceType)} sent to /DiagnosticReport`, 'resourceType');
  for (const k of Object.keys(body)) if (!ALLOWED.has(k)) throw unprocessable('not-supported', `DiagnosticReport.${k.slice(0, 40)} is not stored by this server; send it without that element`, `DiagnosticReport.${k.slice(0, 40)}`);
  if (!['preliminary', 'partial', 'final', 'amended', 'corrected'].includes(body.status as string)) throw unprocessable('required', 'DiagnosticReport.status must be preliminary, partial, final, amended or corrected', 'DiagnosticReport.status');
  if (!isObj(body.subject) || typeof body.subject.reference !== 'string') throw unprocessable('required', 'DiagnosticReport.subject (Patient/<id>) is required', 'DiagnosticReport.subject');
  const contained = body.contained ?? [];
  const result = body.result ?? [];
  if (!Array.isArray(contained) || !Array.isArray(result)) throw bad('contained and result must be arrays');
  if (result.length === 0) throw unprocessable('required', 'DiagnosticReport.result: at least one contained Observation ("#id") is required', 'DiagnosticReport.result');
  if (result.length > MAX_RESULTS) throw unprocessable('business-rule', `at most ${MAX_RESULTS} results in one report`, 'DiagnosticReport.result');
  const byId = new Map<string, Obj>();
  for (const c of contained) {
    if (!isObj(c) || c.resourceType !== 'Observation' || typeof c.id !== 'string') throw unprocessable('not-supported', 'DiagnosticReport.contained holds Observations with an id only', 'DiagnosticReport.contained');
    byId.set(c.id, c);
  }
  const specimen = Array.isArray(body.specimen) && isObj(body.specimen[0]) ? body.specimen[0] : undefined;
  const writes: ParsedWrite[] = [];
  const used = new Set<string>();
  result.forEach((r, i) => {
    const ref = isObj(r) && typeof r.reference === 'string' ? r.reference : '';
    const expr = `DiagnosticReport.result[${i}]`;
    if (!ref.startsWith('#')) throw unprocessable('not-supported', `${expr}: only contained Observations ("#id") are accepted; ${ref.slice(0, 80) || 'a result without a reference'} is not`, expr);
    const o = byId.get(ref.slice(1));
    if (!o) throw unprocessable('required', `${expr}: ${ref.slice(0, 80)} is not in contained`, expr);
    if (used.has(ref)) throw unprocessable('business-rule', `${expr}: ${ref.slice(0, 80)} is listed twice`, expr);
    used.add(ref);
    // The report's subject, time and specimen apply to results that do not say otherwise.
    const obs: Obj = { ...o, category: o.category ?? [{ coding: [{ system: CS.observationCategory, code: 'laboratory' }] }] };
    delete obs.id;
    obs.subject ??= body.subject;
    obs.effectiveDateTime ??= body.effectiveDateTime;
    obs.specimen ??= specimen;
    obs.status ??= body.status;
    let parsed: ParsedWrite;
    try {
      parsed = parseWrite('Observation', obs, newId());
    } catch (e) {
      if (e instanceof OperationOutcomeError) throw new OperationOutcomeError(e.status as HttpStatus, (e.outcome.issue[0]?.code ?? 'invalid') as IssueType, `contained ${ref.slice(0, 80)}: ${e.outcome.issue[0]?.diagnostics ?? ''}`, expr);
      throw e;
    }
    if (parsed.recordType !== 'lab_result') throw unprocessable('business-rule', `${expr}: a report's results are laboratory Observations`, expr);
    if (parsed.references[0] !== (body.subject as Obj).reference?.toString().replace(/^Patient\//, '')) throw unprocessable('business-rule', `${expr}: the result's subject differs from the report's`, expr);
    const payload = recordTypes.lab_result.parse({ ...parsed.payload, orderId: reportId });
    writes.push({ ...parsed, payload: payload as Record<string, unknown>, identifiers: [] });
  });
  return writes;
}
