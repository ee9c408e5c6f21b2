/**
 * Headless Debian Chromium driven by playwright-core (never `npx playwright install`),
 * with a fresh profile per test and the flags this closed network needs.
 */
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `ignoreHTTPSErrors`: for a server whose certificate a test CA signed (the browser's own store cannot be given that CA). */
export async function launchBrowser(opts: { ignoreHTTPSErrors?: boolean } = {}): Promise<BrowserContext & AsyncDisposable & { cspRefusals: string[] }> {
  const exe = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!exe) throw new Error('chromium not found: apt-get install -y chromium (scripts/ensure-system.sh does this)');
  const dir = mkdtempSync(join(tmpdir(), 'chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: exe,
    headless: true,
    locale: 'zh-CN',
    viewport: { width: 1280, height: 800 },
    ...(opts.ignoreHTTPSErrors ? { ignoreHTTPSErrors: true } : {}),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // Every page the product serves runs under its Content-Security-Policy (no inline script or
  // handler): a refusal is a broken button or chart, so any one fails the test that saw it.
  const refused: string[] = [];
  const watch = (p: Page) => p.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) refused.push(`${p.url()}: ${m.text()}`);
  });
  ctx.pages().forEach(watch);
  ctx.on('page', watch);
  return Object.assign(ctx, {
    cspRefusals: refused,
    async [Symbol.asyncDispose]() {
      await ctx.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      if (refused.length) throw new Error(`the browser refused ${refused.length} script(s) or handler(s) under the Content-Security-Policy:\n${refused.join('\n')}`);
    },
  });
}

/** Where screenshots go: `<tmp>/ui-<name>.png`, kept after the run so a person can look at them. */
export function screenshotPath(name: string): string {
  return join(tmpdir(), `ui-${name}.png`);
}

/** Signs in to a clinic's edge web UI (its login form) and waits for the page that follows. */
export async function edgeLogin(page: Page, base: string, username: string, password: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('button.primary')]);
}
