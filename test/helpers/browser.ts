// Debian's chromium, headless, driven by playwright-core: one browser per
// test file, closed (with its temporary profile) also when a test fails;
// every console message of level error, every page error and every failed
// request is kept, for the test to assert there were none.

import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { chromium, type Browser, type Page } from 'playwright-core';

import type { Requirement } from './kernel.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots land here (gitignored), for a person to look at. */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

export const needChromium: Requirement = () => (existsSync(CHROMIUM) ? undefined : `needs Debian's chromium (${CHROMIUM}): bash scripts/ensure-deb.sh test`);

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root chromium refuses its sandbox; nothing but 127.0.0.1 is loaded.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
    timeout: 30_000,
  });
}

export interface Watched {
  page: Page;
  /** Console errors, page errors, failed requests and CSP violations, one line each. */
  problems: string[];
}

export async function openPage(browser: Browser, url: string): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(url, { waitUntil: 'load', timeout: 15_000 });
  return { page, problems };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = `${ARTIFACTS}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}
