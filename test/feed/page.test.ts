// The web page as serve and cluster send it: a strict CSP on every
// response, the feed's token rules (Bearer, ?token= once, then an HttpOnly
// SameSite cookie that only the page's own origin may use), only the
// page's files, and /topology.

import { readFileSync, readdirSync } from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { Feed } from '../../src/feed/server.js';
import { CSP } from '../../src/feed/page.js';

let feeds: Feed[] = [];
afterEach(async () => {
  await Promise.all(feeds.map((f) => f.close()));
  feeds = [];
});

async function start(token?: string) {
  const feed = await Feed.start({ host: '127.0.0.1', port: 0, snapshot: () => [], ...(token ? { token } : {}), topology: () => [{ type: 'topology', ts: 1, namespaces: [], findings: [], problems: ['x'] }] });
  feeds.push(feed);
  return `http://127.0.0.1:${feed.address().port}`;
}

const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers, redirect: 'manual' });

describe('the page', () => {
  it('is served at / with its scripts, under a CSP with no inline script or style and nothing from elsewhere', async () => {
    const base = await start();
    const res = await get(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toBe(CSP);
    expect(CSP).toMatch(/default-src 'self'/);
    expect(CSP).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i);
    expect(html).not.toMatch(/https?:\/\//);
    for (const asset of ['app.js', 'shape.js', 'path.js', 'addr.js', 'mtumap.js', 'style.css', 'favicon.svg']) {
      const a = await get(`${base}/assets/${asset}`);
      expect(a.status, asset).toBe(200);
      expect(a.headers.get('content-security-policy')).toBe(CSP);
    }
    expect((await get(`${base}/assets/app.js`)).headers.get('content-type')).toMatch(/^text\/javascript/);
  });

  it('serves nothing but its own files', async () => {
    const base = await start();
    for (const path of ['/assets/../package.json', '/assets/%2e%2e/package.json', '/assets/app.d.ts', '/assets/index.html/x', '/assets/App.js', '/package.json']) {
      expect((await get(`${base}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
  });

  it('with a token: 401 without it; ?token= once sets an HttpOnly SameSite=Strict cookie and sends the browser back to /', async () => {
    const base = await start('s3cret');
    expect((await get(`${base}/`)).status).toBe(401);
    expect((await get(`${base}/assets/app.js`)).status).toBe(401);
    expect((await get(`${base}/topology`)).status).toBe(401);
    expect((await get(`${base}/?token=wrong`)).status).toBe(401);
    const res = await get(`${base}/?token=s3cret`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^pmtu_watch_token=s3cret; Path=\/; HttpOnly; SameSite=Strict$/);
    const jar = { cookie: 'pmtu_watch_token=s3cret' };
    expect((await get(`${base}/`, jar)).status).toBe(200);
    expect((await get(`${base}/assets/app.js`, jar)).status).toBe(200);
    const topo = await get(`${base}/topology`, jar);
    expect(topo.status).toBe(200);
    expect(await topo.json()).toEqual([{ type: 'topology', ts: 1, namespaces: [], findings: [], problems: ['x'] }]);
    expect((await get(`${base}/metrics`, { authorization: 'Bearer s3cret' })).status).toBe(200);
    expect((await get(`${base}/`, { cookie: 'pmtu_watch_token=nope' })).status).toBe(401);
  });

  it("the cookie opens the websocket from the page's own origin, not from another site's page", async () => {
    const base = await start('s3cret');
    const ws = (origin: string) =>
      new Promise<string>((resolve) => {
        const w = new WebSocket(`${base.replace('http', 'ws')}/feed`, { headers: { cookie: 'pmtu_watch_token=s3cret', origin } });
        w.on('open', () => {
          w.close();
          resolve('open');
        });
        w.on('error', (e) => resolve(e.message));
      });
    expect(await ws(base)).toBe('open');
    expect(await ws('http://evil.example')).toMatch(/401/);
  });
});

describe('the page source', () => {
  const dir = new URL('../../src/web/', import.meta.url);
  const sources = readdirSync(dir).filter((f) => f.endsWith('.ts'));

  it('never renders markup from what it receives: no innerHTML, outerHTML, insertAdjacentHTML, document.write, eval', () => {
    expect(sources.length).toBeGreaterThanOrEqual(4);
    for (const f of sources) {
      const text = readFileSync(new URL(f, dir), 'utf8');
      expect(text, f).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|\.style\.|setAttribute\('style'/);
    }
  });

  it('ships in the package', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('web/');
    expect(pkg.files).toContain('dist/');
  });
});
