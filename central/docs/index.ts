/**
 * Documentation served by central (no authentication: it holds no personal data):
 *   /docs       the HTTP API reference, rendered from /openapi.json at each request
 *   /docs/fhir  the FHIR interaction guide per business scenario (see fhir-guide.ts)
 */
import type { Hono } from 'hono';
import { renderReference, type OpenApiDoc } from './reference.ts';
import { renderFhirGuide } from './fhir-guide-page.ts';

const LINKS = [
  { href: '/docs', label: 'API 接口文档' },
  { href: '/docs/fhir', label: 'FHIR 交互指南' },
  { href: '/openapi.json', label: 'openapi.json' },
  { href: '/fhir/metadata', label: 'FHIR CapabilityStatement' },
];

// Hono's generic parameters vary per app; docs only add routes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function mountDocs(app: Hono<any, any, any>): void {
  app.get('/docs', async (c) => {
    const res = await app.request('/openapi.json');
    if (!res.ok) return c.text(`the OpenAPI document is not available (HTTP ${res.status})`, 503);
    return c.html(renderReference(await res.json() as OpenApiDoc, LINKS));
  });
  app.get('/docs/fhir', (c) => c.html(renderFhirGuide(new URL(c.req.url).origin)));
}
