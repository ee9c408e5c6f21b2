/**
 * The boundary to the city health information platform (tender 1.7.1 §4). The city's exchange
 * specification is not public, so the uploader talks to one small interface and the default
 * adapter sends a documented JSON mapping over HTTPS (see central/README.md "City platform upload").
 * Another city's format is another `CityAdapter`, nothing else changes.
 */

export interface UploadRecord {
  clinicId: string;
  type: string;
  recordId: string;
  version: number;
  seq: number;
  createdAt: string;
  payload: unknown;
}

export interface UploadBatch {
  batchId: string;
  /** Stable across retries of this batch: the platform must treat a repeat as the same batch. */
  idempotencyKey: string;
  type: string;
  /** Day of the records' clinical creation time in China Standard Time (yyyy-MM-dd). */
  day: string;
  attempt: number;
  records: UploadRecord[];
}

export type SendResult =
  | { ok: true; httpStatus?: number; note?: string }
  | { ok: false; retryable: boolean; httpStatus?: number; error: string };

export interface CityAdapter {
  readonly name: string;
  send(batch: UploadBatch): Promise<SendResult>;
}

export interface HttpAdapterOptions {
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
  /** District code (6-digit administrative division) stamped on every batch. */
  district: string;
  timeoutMs?: number;
}

/**
 * POST one JSON document per batch:
 * `{ batchId, idempotencyKey, district, dataset, day, count, records: [{ clinicId, recordType, recordId, version, seq, createdAt, data }] }`
 * with headers `Idempotency-Key` and `X-Batch-Count`. 2xx = accepted; 409 = the platform already
 * holds this idempotency key (accepted earlier: success); 408/429/5xx/network = retry with
 * backoff; any other 4xx = the batch is refused as it is (failed, kept for compensation).
 */
export class HttpJsonAdapter implements CityAdapter {
  readonly name = 'http-json';
  constructor(private readonly o: HttpAdapterOptions) {}

  async send(b: UploadBatch): Promise<SendResult> {
    const body = JSON.stringify({
      batchId: b.batchId, idempotencyKey: b.idempotencyKey, district: this.o.district, dataset: b.type, day: b.day, count: b.records.length,
      records: b.records.map((r) => ({ clinicId: r.clinicId, recordType: r.type, recordId: r.recordId, version: r.version, seq: r.seq, createdAt: r.createdAt, data: r.payload })),
    });
    let res: Response;
    try {
      res = await fetch(this.o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', 'idempotency-key': b.idempotencyKey, 'x-batch-count': String(b.records.length), ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}) },
        body,
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000),
      });
    } catch (e) {
      return { ok: false, retryable: true, error: `no answer from ${new URL(this.o.url).host}: ${(e as Error).message}` };
    }
    const text = (await res.text().catch(() => '')).slice(0, 300);
    if (res.ok) return { ok: true, httpStatus: res.status };
    if (res.status === 409) return { ok: true, httpStatus: 409, note: 'already received (idempotency key known)' };
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    return { ok: false, retryable, httpStatus: res.status, error: `HTTP ${res.status}${text ? `: ${text}` : ''}` };
  }
}
