/**
 * Headless Debian Chromium driven by playwright-core (never `npx playwright install`),
 * with a fresh profile per test and the flags this closed network needs.
 */
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function launchBrowser(): Promise<BrowserContext & AsyncDisposable> {
  const exe = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!exe) throw new Error('chromium not found: apt-get install -y chromium (scripts/ensure-system.sh does this)');
  const dir = mkdtempSync(join(tmpdir(), 'chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: exe,
    headless: true,
    locale: 'zh-CN',
    viewport: { width: 1280, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return Object.assign(ctx, {
    async [Symbol.asyncDispose]() {
      await ctx.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
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
