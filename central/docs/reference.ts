/**
 * A human-readable API reference rendered on the server from central's own OpenAPI document
 * (`/openapi.json`), so it can never drift from the routes; no CDN and no client script (the
 * private network has no internet; Swagger UI would need its bundle served and kept current).
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: { name: string; in: string; required?: boolean; description?: string; schema?: Json }[];
  requestBody?: { content?: Record<string, { schema?: Json }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Json }> }>;
  security?: Record<string, string[]>[];
}
export interface OpenApiDoc {
  info?: { title?: string; version?: string; description?: string };
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Json>; securitySchemes?: Record<string, Json> };
}

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
const COLORS: Record<string, string> = { get: '#2b6cb0', post: '#2f855a', put: '#b7791f', patch: '#6b46c1', delete: '#c53030' };

/** A schema as compact text: `$ref`s become links to the schema section. */
function schemaHtml(s: Json | undefined): string {
  if (s === undefined) return '';
  const json = JSON.stringify(s, null, 2);
  return `<pre>${esc(json).replace(/&quot;#\/components\/schemas\/([A-Za-z0-9_.-]+)&quot;/g, (_m, n: string) => `<a href="#schema-${esc(n)}">${esc(n)}</a>`)}</pre>`;
}

function section(path: string): string {
  const p = path.split('/').filter(Boolean);
  if (p[0] === 'api') return p[1] ?? 'api';
  return p[0] ?? '/';
}

export function renderReference(doc: OpenApiDoc, links: { href: string; label: string }[]): string {
  const ops: { path: string; method: string; op: Operation; group: string }[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const m of METHODS) {
      const op = item[m];
      if (op) ops.push({ path, method: m, op, group: op.tags?.[0] ?? section(path) });
    }
  }
  const groups = [...new Set(ops.map((o) => o.group))].sort();
  const body = groups.map((g) => {
    const list = ops.filter((o) => o.group === g).sort((a, b) => a.path.localeCompare(b.path) || METHODS.indexOf(a.method as 'get') - METHODS.indexOf(b.method as 'get'));
    return `<section id="group-${esc(g)}"><h2>${esc(g)}</h2>${list.map(({ path, method, op }) => {
      const params = op.parameters ?? [];
      const req = Object.entries(op.requestBody?.content ?? {});
      const res = Object.entries(op.responses ?? {});
      const secured = (op.security ?? []).flatMap((s) => Object.keys(s));
      return `<details class="op" data-op="${esc(method.toUpperCase())} ${esc(path)}"><summary><span class="m" style="background:${COLORS[method]}">${method.toUpperCase()}</span> <code>${esc(path)}</code> <span class="sum">${esc(op.summary ?? '')}</span>${secured.length ? ` <span class="lock" title="${esc(secured.join(', '))}">需认证 auth: ${esc(secured.join(', '))}</span>` : ''}</summary>
        ${op.description ? `<p>${esc(op.description)}</p>` : ''}
        ${params.length ? `<h4>Parameters 参数</h4><table><tr><th>name</th><th>in</th><th>required</th><th>schema</th><th>description</th></tr>${params.map((p) => `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? 'yes' : ''}</td><td><code>${esc(JSON.stringify(p.schema ?? {}))}</code></td><td>${esc(p.description ?? '')}</td></tr>`).join('')}</table>` : ''}
        ${req.length ? `<h4>Request body 请求体</h4>${req.map(([ct, c]) => `<p><code>${esc(ct)}</code></p>${schemaHtml(c.schema)}`).join('')}` : ''}
        <h4>Responses 响应</h4><table>${res.map(([code, r]) => `<tr><td><b>${esc(code)}</b></td><td>${esc(r.description ?? '')}${Object.entries(r.content ?? {}).map(([ct, c]) => `<div><code>${esc(ct)}</code>${schemaHtml(c.schema)}</div>`).join('')}</td></tr>`).join('')}</table>
      </details>`;
    }).join('\n')}</section>`;
  }).join('\n');
  const schemas = Object.entries(doc.components?.schemas ?? {}).sort(([a], [b]) => a.localeCompare(b))
    .map(([n, s]) => `<div id="schema-${esc(n)}"><h3>${esc(n)}</h3>${schemaHtml(s)}</div>`).join('');
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>${esc(doc.info?.title ?? 'API')} · 接口文档</title>
<style>
body{font-family:"Noto Sans CJK SC","Noto Sans SC",system-ui,sans-serif;margin:0;background:#f4f6fa;color:#1a202c}
header{background:#1f4e8c;color:#fff;padding:14px 28px}header h1{margin:0;font-size:22px}header a{color:#e2ecff;margin-right:16px}
main{max-width:1180px;margin:0 auto;padding:18px 28px}nav.toc a{margin-right:12px}
section{background:#fff;border:1px solid #d9dee6;border-radius:8px;padding:8px 18px;margin:14px 0}
details.op{border-bottom:1px solid #edf0f4;padding:6px 0}details.op summary{cursor:pointer;list-style:none}
.m{color:#fff;border-radius:4px;padding:2px 8px;font-size:12px;font-weight:700;display:inline-block;min-width:52px;text-align:center}
.sum{color:#4a5568}.lock{font-size:11px;color:#4a5568;border:1px solid #cbd5e0;border-radius:3px;padding:0 5px}
table{border-collapse:collapse;margin:6px 0;width:100%}td,th{border:1px solid #e2e8f0;padding:4px 8px;text-align:left;font-size:13px;vertical-align:top}
pre{background:#f7fafc;border:1px solid #e2e8f0;padding:8px;font-size:12px;overflow:auto;max-height:320px}
@media print{details.op{break-inside:avoid}details.op>*{display:block}}
</style></head><body>
<header><h1>${esc(doc.info?.title ?? 'API')} <small>${esc(doc.info?.version ?? '')}</small> · 接口文档 API reference</h1>
<p>${links.map((l) => `<a href="${esc(l.href)}">${esc(l.label)}</a>`).join('')}</p></header>
<main><p>${esc(doc.info?.description ?? '')}</p>
<p>Generated from <a href="/openapi.json">/openapi.json</a> at every request. Authenticated routes take <code>Authorization: Bearer &lt;token&gt;</code>; errors are JSON <code>{ "error", "detail" }</code> naming the field.</p>
<nav class="toc">${groups.map((g) => `<a href="#group-${esc(g)}">${esc(g)}</a>`).join('')}<a href="#schemas">schemas</a></nav>
${body}
<section id="schemas"><h2>Schemas 数据结构</h2>${schemas || '<p>none</p>'}</section>
</main></body></html>`;
}
