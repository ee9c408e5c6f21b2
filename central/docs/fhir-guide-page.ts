/** Renders the FHIR interaction guide (scenarios in fhir-guide.ts) as one printable HTML page. */
import { fhirGuide, type GuideStep } from './fhir-guide.ts';

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const show = (s: string) => s.replace(/\{\{(\w+)\}\}/g, '<$1>');

function request(s: GuideStep, base: string): string {
  const lines = [`${s.method} ${base}${show(s.path)}`];
  for (const [k, v] of Object.entries(s.headers ?? {})) lines.push(`${k}: ${show(v)}`);
  if (s.form) lines.push('content-type: application/x-www-form-urlencoded', '', new URLSearchParams(Object.fromEntries(Object.entries(s.form).map(([k, v]) => [k, show(v)]))).toString().replace(/%3C(\w+)%3E/g, '<$1>'));
  else if (s.body !== undefined) lines.push('', show(JSON.stringify(s.body, null, 2)));
  return lines.join('\n');
}

export function renderFhirGuide(base: string): string {
  const toc = fhirGuide.map((g) => `<li><a href="#${g.id}">${esc(g.title.zh)}</a> <span class="en">${esc(g.title.en)}</span></li>`).join('');
  const body = fhirGuide.map((g, i) => `<section id="${g.id}" data-scenario="${g.id}"><h2>${i + 1}. ${esc(g.title.zh)} <span class="en">${esc(g.title.en)}</span></h2>
    <p>${esc(g.intro.zh)}<br><span class="en">${esc(g.intro.en)}</span></p>
    ${g.steps.map((s, j) => `<div class="step"><h3>${i + 1}.${j + 1} ${esc(s.title.zh)} <span class="en">${esc(s.title.en)}</span></h3>
      <div class="cols"><div><div class="lbl">请求 Request</div><pre>${esc(request(s, base))}</pre></div>
      <div><div class="lbl">响应 Response · HTTP ${s.expect.status}</div><pre>${esc(s.expect.body === undefined ? '' : show(JSON.stringify(s.expect.body, null, 2)))}</pre></div></div>
      ${s.note ? `<p class="note">${esc(s.note.zh)} <span class="en">${esc(s.note.en)}</span></p>` : ''}</div>`).join('')}
  </section>`).join('');
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>FHIR 交互指南 · FHIR interaction guide</title>
<style>
body{font-family:"Noto Sans CJK SC","Noto Sans SC",system-ui,sans-serif;margin:0;background:#f4f6fa;color:#1a202c}
header{background:#1f4e8c;color:#fff;padding:14px 28px}header h1{margin:0;font-size:22px}header a{color:#e2ecff;margin-right:16px}
main{max-width:1180px;margin:0 auto;padding:18px 28px}.en{color:#718096;font-size:.85em;font-weight:normal}
section{background:#fff;border:1px solid #d9dee6;border-radius:8px;padding:10px 20px;margin:16px 0}
.step{border-top:1px solid #edf0f4;padding-top:6px}.cols{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.lbl{font-size:12px;color:#4a5568;font-weight:700}pre{background:#f7fafc;border:1px solid #e2e8f0;padding:8px;font-size:12px;overflow:auto;white-space:pre-wrap;word-break:break-all}
.note{background:#fffbea;border-left:3px solid #d69e2e;padding:4px 10px;font-size:13px}
@media print{header{background:#fff;color:#000}section{break-inside:avoid-page}}
</style></head><body>
<header><h1>FHIR R4 交互指南 <span style="font-size:14px">FHIR interaction guide</span></h1>
<p><a href="/docs">API 接口文档</a><a href="/fhir/metadata">CapabilityStatement</a><a href="/openapi.json">openapi.json</a></p></header>
<main>
<p>区域卫生数据中心的 FHIR R4 接口（<code>${esc(base)}/fhir</code>）。每个示例都是真实请求，由自动化测试逐条在运行的系统上执行并核对响应，文档与系统保持一致。<br>
<span class="en">Every example below is a real request; an automated test runs each one against a running central and checks the response shown, so this guide matches the server. <code>&lt;name&gt;</code> marks a value from an earlier step; <code>…</code> any value.</span></p>
<p>标识与编码体系：居民身份证 <code>http://district-health.cn/fhir/sid/cn-id-card</code>，医保卡 <code>…/sid/cn-medical-insurance-card</code>，电子健康卡 <code>…/sid/cn-ehealth-card</code>，诊断 ICD-10 国家临床版 2.0 <code>…/CodeSystem/icd-10-cn-clinical-2.0</code>，检验 LOINC <code>http://loinc.org</code>。</p>
<ol>${toc}</ol>
${body}
</main></body></html>`;
}
