/**
 * Imaging routes in the central OpenAPI document. They are plain Hono routes (DICOMweb
 * bodies are DICOM JSON and multipart/related, defined by PS3.18), so they are described
 * here by hand: paths, parameters, content types and status codes, pointing at PS3.18.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { z } from '@hono/zod-openapi';

const DICOM_JSON = 'application/dicom+json';
const uid = (name: string) => ({ name, in: 'path' as const, required: true, schema: { type: 'string' as const, pattern: '^[0-9.]{1,64}$' } });
const q = (name: string, description: string) => ({ name, in: 'query' as const, required: false, schema: { type: 'string' as const }, description });
const json = (description: string) => ({ description, content: { [DICOM_JSON]: { schema: { type: 'array' as const, items: { type: 'object' as const } } } } });
const err = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' as const, properties: { error: { type: 'string' as const }, detail: { type: 'string' as const } } } } } });
const multipart = (type: string, description: string) => ({ description, content: { [`multipart/related; type="${type}"`]: { schema: { type: 'string' as const, format: 'binary' } } } });
const security = [{ bearer: [] }];
const tags = ['Imaging (DICOMweb PS3.18)'];
const DW = '/api/imaging/dicomweb';
const qido = [q('PatientID', 'wildcards * and ?'), q('PatientName', 'wildcards * and ?'), q('AccessionNumber', ''), q('StudyDate', 'yyyyMMdd, range a-b, -b, a-'), q('ModalitiesInStudy', ''), q('StudyInstanceUID', 'list separated by commas'), q('ClinicID', 'the sending clinic (not in PS3.18)'), q('limit', '1..1000, default 100'), q('offset', '')];

/** Adds the imaging paths to the app's OpenAPI registry when the app has one. */
export function registerImagingOpenApi(app: unknown): void {
  const reg = (app as Partial<OpenAPIHono>).openAPIRegistry;
  if (!reg) return;
  reg.registerComponent('securitySchemes', 'clinicToken', { type: 'http', scheme: 'bearer', description: '<clinicId>.<HMAC> minted per clinic (contracts/clinic-token.ts)' });
  // The registry takes OpenAPI objects; these are typed loosely by @asteasolutions/zod-to-openapi.
  const add = (method: 'get' | 'post' | 'put', path: string, o: Record<string, unknown>) =>
    reg.registerPath({ method, path, security, tags, responses: {}, ...o } as Parameters<typeof reg.registerPath>[0]);

  add('put', '/archive/instances/{sop}', {
    summary: 'Upload one instance with a per-clinic token (the clinic is the token\'s)', security: [{ clinicToken: [] }],
    request: { params: z.object({ sop: z.string() }), headers: z.object({ 'x-content-sha256': z.string().regex(/^[0-9a-f]{64}$/), 'x-clinic-id': z.string().optional(), 'x-station-ae': z.string().optional() }) },
    responses: { 201: { description: 'stored' }, 200: { description: 'already held with the same sha256' }, 400: err('not Part 10, or UID differs from the path'), 401: err('no valid clinic token'), 403: err('X-Clinic-Id differs from the token\'s clinic'), 409: err('instance owned by another clinic'), 413: err('too large'), 422: err('sha256 mismatch: send again'), 507: err('the archive\'s disk is below CENTRAL_IMAGING_MIN_FREE, or filled during the upload: nothing kept; send again later') },
  });
  add('get', '/archive/uploads/{sop}', {
    summary: 'Resumable upload: how many bytes of this instance (with this sha256) central holds (clinic token)', security: [{ clinicToken: [] }],
    parameters: [uid('sop'), q('sha256', 'the whole instance\'s sha256, 64 lower-case hex digits')],
    responses: { 200: { description: '{ offset, complete }: complete when the archive already holds the instance with these bytes' }, 400: err('bad UID or sha256'), 401: err('no valid clinic token'), 409: err('instance owned by another clinic') },
  });
  add('put', '/archive/uploads/{sop}', {
    summary: 'Resumable upload: one part, appended at X-Upload-Offset; the part that completes X-Upload-Length bytes files the instance after checking the whole sha256 (clinic token)', security: [{ clinicToken: [] }],
    request: { params: z.object({ sop: z.string() }), headers: z.object({ 'x-content-sha256': z.string().regex(/^[0-9a-f]{64}$/), 'x-upload-offset': z.string().regex(/^\d+$/), 'x-upload-length': z.string().regex(/^\d+$/), 'x-station-ae': z.string().optional() }) },
    responses: { 202: { description: '{ offset, complete: false }: send the next part from offset' }, 201: { description: 'complete: stored' }, 200: { description: 'complete: already held' }, 400: err('bad offset or length, or more bytes than the length (the part is taken back)'), 401: err('no valid clinic token'), 409: err('central holds a different number of bytes ({ offset }: send from there), or the instance is another clinic\'s'), 413: err('too large'), 422: err('the whole does not hash to X-Content-Sha256: discarded, send again from 0'), 507: err('the archive\'s disk is below CENTRAL_IMAGING_MIN_FREE or full') },
  });
  add('get', '/archive/instances/{sop}/rendered', {
    summary: 'PNG of frame 1 of one of the calling clinic\'s instances (clinic token): the edge shows it for images removed from its disk once the archive held them',
    security: [{ clinicToken: [] }], parameters: [uid('sop'), q('size', 'longest side in pixels, 16-2048, default 256')],
    responses: { 200: { description: 'image/png (X-Content-Sha256: the stored file\'s)', content: { 'image/png': { schema: { type: 'string', format: 'binary' } } } }, 401: err('no valid clinic token'), 404: err('no such instance of this clinic'), 415: err('cannot be rendered (kind: corrupt, format, syntax, no-image, too-large, timeout)'), 503: err('previews busy: Retry-After') },
  });
  add('get', '/archive/reports', {
    summary: 'Reports on the calling clinic\'s studies after a cursor (clinic token)', security: [{ clinicToken: [] }], parameters: [q('after', 'cursor of the last report received (0 at first)')],
    responses: { 200: { description: '{ reports: [{ cursor, studyInstanceUid, version, status, findings, impression, positive, radiologist, reportedAt }] }, at most 200' }, 401: err('no valid clinic token') },
  });
  add('get', `${DW}/studies`, { summary: 'QIDO-RS search for studies', parameters: qido, responses: { 200: json('studies (DICOM JSON)') } });
  add('get', `${DW}/studies/{study}/series`, { summary: 'QIDO-RS search for series', parameters: [uid('study')], responses: { 200: json('series') } });
  add('get', `${DW}/instances`, { summary: 'QIDO-RS search for instances', parameters: qido, responses: { 200: json('instances') } });
  add('get', `${DW}/studies/{study}/instances`, { summary: 'QIDO-RS instances of a study', parameters: [uid('study')], responses: { 200: json('instances') } });
  add('get', `${DW}/studies/{study}/series/{series}/instances`, { summary: 'QIDO-RS instances of a series', parameters: [uid('study'), uid('series')], responses: { 200: json('instances') } });
  add('post', `${DW}/studies`, {
    summary: 'STOW-RS store instances', parameters: [{ name: 'x-clinic-id', in: 'header', required: false, schema: { type: 'string' }, description: 'file under this clinic (default "external")' }],
    requestBody: { content: { 'multipart/related; type="application/dicom"': { schema: { type: 'string', format: 'binary' } } } },
    responses: { 200: json('all stored (ReferencedSOPSequence)'), 202: json('some failed (FailedSOPSequence with reasons)'), 409: json('none stored'), 400: err('not multipart/related'), 413: err('above 1 GiB') },
  });
  add('post', `${DW}/studies/{study}`, { summary: 'STOW-RS store instances of one study', parameters: [uid('study')], responses: { 200: json('stored'), 202: json('some failed'), 409: json('none stored (e.g. other study)') } });
  for (const [path, params, what] of [
    [`${DW}/studies/{study}`, [uid('study')], 'a study'],
    [`${DW}/studies/{study}/series/{series}`, [uid('study'), uid('series')], 'a series'],
    [`${DW}/studies/{study}/series/{series}/instances/{sop}`, [uid('study'), uid('series'), uid('sop')], 'an instance'],
  ] as const) {
    add('get', path, {
      summary: `WADO-RS retrieve ${what}`, parameters: params,
      description: 'The transfer syntax follows the Accept header (PS3.18 8.7.3.5): `transfer-syntax=*` or the stored UID gives the files byte-identical to what the clinic sent; without `transfer-syntax` (the default) or with 1.2.840.10008.1.2.1 an instance stored otherwise is transcoded to Explicit VR Little Endian (compressed pixel data decoded: JPEG baseline/lossless, JPEG-LS, JPEG 2000, RLE; Implicit VR given its VRs; every other element unchanged). Ranges are tried by q. Each part\'s Content-Type names its transfer-syntax.',
      responses: { 200: multipart('application/dicom', 'the Part 10 files, as stored or transcoded'), 404: err('not found'), 406: err('no range the server can give (another compressed syntax asked, or an instance without a decoder such as MPEG-2, or a corrupt one, asked uncompressed): the detail says what can be had'), 503: err('the decoding thread is busy; Retry-After') },
    });
    add('get', `${path}/metadata`, { summary: `WADO-RS metadata of ${what}`, parameters: params, responses: { 200: json('DICOM JSON; binary values as BulkDataURI'), 404: err('not found') } });
  }
  const inst = [uid('study'), uid('series'), uid('sop')];
  add('get', `${DW}/studies/{study}/series/{series}/instances/{sop}/frames/{frames}`, {
    summary: 'WADO-RS frames (1-based list)', parameters: [...inst, { name: 'frames', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9]+(,[0-9]+)*$' } }],
    description: 'Without `transfer-syntax` in the Accept header frames come uncompressed (compressed ones decoded); with `transfer-syntax=*` or the stored UID as stored, typed with their transfer syntax.',
    responses: { 200: multipart('application/octet-stream', 'native frames (decoded when stored compressed), or compressed frames as stored'), 400: err('bad frame list, or more than 10,000 frames in one request'), 404: err('frame not in the instance'), 406: err('the frames cannot be given in a syntax the Accept header names'), 503: err('the decoding thread is busy') },
  });
  add('get', `${DW}/studies/{study}/series/{series}/instances/{sop}/bulkdata/{path}`, {
    summary: 'Bulk data a metadata BulkDataURI names', parameters: [...inst, { name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
    responses: { 200: multipart('application/octet-stream', 'the element value'), 404: err('no binary value there') },
  });
  add('get', `${DW}/studies/{study}/series/{series}/instances/{sop}/rendered`, {
    summary: 'Rendered PNG preview of frame 1', parameters: [...inst, q('size', '16..2048, default 1024')],
    responses: { 200: { description: 'PNG', content: { 'image/png': { schema: { type: 'string', format: 'binary' } } } }, 415: err('cannot be rendered: the detail says why (a transfer syntax without a decoder such as MPEG-2, a corrupt or cut-off frame, above 50 M pixels, a render stopped after 30 s)'), 503: err('too many previews waiting; retry after the Retry-After seconds') },
  });
  const must = (name: string, description: string) => ({ ...q(name, description), required: true });
  add('get', '/api/imaging/wado', {
    summary: 'WADO-URI (PS3.18 chapter 9): one instance by URL, rendered or as DICOM', tags: ['Imaging (WADO-URI PS3.18 ch. 9)'],
    description: 'image/jpeg (the default) or image/png: one frame rendered (monochrome windowed, colour as is), fitted within rows/columns (aspect kept, never enlarged); application/dicom: the instance in transferSyntax (default Explicit VR Little Endian, transcoded when stored otherwise; the stored UID or * for the stored bytes). Not offered (400): region, anonymize=yes, presentation states; annotation is ignored (no burned-in text is added).',
    parameters: [must('requestType', 'WADO'), must('studyUID', ''), must('seriesUID', ''), must('objectUID', 'SOP Instance UID'), q('contentType', 'image/jpeg (default), image/png, application/dicom; a comma-separated list, the first served wins'),
      q('rows', 'fit within this many rows (1-16384)'), q('columns', 'fit within this many columns (1-16384)'), q('frameNumber', 'from 1 (default 1)'), q('windowCenter', 'with windowWidth'), q('windowWidth', 'at least 1'),
      q('imageQuality', '1-100, image/jpeg only (default 90)'), q('transferSyntax', 'application/dicom only: a UID, or * for the stored bytes')],
    responses: {
      200: { description: 'the image or the Part 10 file', content: { 'image/jpeg': { schema: { type: 'string', format: 'binary' } }, 'image/png': { schema: { type: 'string', format: 'binary' } }, 'application/dicom': { schema: { type: 'string', format: 'binary' } } } },
      400: err('a parameter missing, malformed or not offered (named)'), 404: err('no such instance in that series and study, or no such frame'),
      406: err('a contentType not served, a transfer syntax that cannot be given, or an instance that cannot be rendered (the detail says why)'), 503: err('the preview thread is busy; Retry-After'),
    },
  });
  add('get', '/api/imaging/stats', {
    summary: 'Workload per day (China time), clinic, device and modality, with positive rate over reported studies',
    parameters: [q('from', 'yyyy-MM-dd'), q('to', 'yyyy-MM-dd'), q('clinic', 'clinic id')],
    responses: { 200: { description: 'rows: day, clinicId, stationAe, modality, studies, instances, bytes, reported, positive, positiveRate (null when none reported)' }, 400: err('a date that is not one (named), or from after to') },
  });
  add('post', '/api/imaging/studies/{study}/reports', {
    summary: 'Add a radiologist report version (preliminary, final, amended)', parameters: [uid('study')],
    requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['status', 'findings', 'impression', 'positive', 'radiologist'], properties: { status: { enum: ['preliminary', 'final', 'amended'] }, findings: { type: 'string' }, impression: { type: 'string' }, positive: { type: 'boolean' }, radiologist: { type: 'string' } } } } } },
    responses: { 201: { description: 'the new version' }, 400: err('invalid field (named)'), 404: err('unknown study'), 409: err('status out of order') },
  });
  add('get', '/api/imaging/studies/{study}/reports', { summary: 'All report versions of a study', parameters: [uid('study')], responses: { 200: { description: 'versions, oldest first' } } });
}
