// The web page the feed serves at `/`: static files that ship in the
// package (web/index.html, web/style.css, and the scripts tsc compiles from
// src/web/ into dist/web/), with a strict Content-Security-Policy. No
// inline script or style, nothing from another origin: the page works
// offline and renders what it receives as text, never as markup.

import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/** Both src/feed/ (tests) and dist/feed/ sit two levels under the package root. */
const ROOT = new URL('../../', import.meta.url);
const STATIC_DIR = fileURLToPath(new URL('web/', ROOT));
const SCRIPT_DIR = fileURLToPath(new URL('dist/web/', ROOT));

export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-store',
} as const;

/** The cookie a page's later requests (scripts, /topology, the websocket) carry its token in. */
export const TOKEN_COOKIE = 'pmtu_watch_token';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The files the page is made of, by the name it asks for: nothing else is served. */
function locate(name: string): string | undefined {
  if (name === 'index.html' || name === 'style.css' || name === 'favicon.svg') return STATIC_DIR + name;
  if (/^[a-z][a-z-]{0,30}\.js(\.map)?$/.test(name)) return SCRIPT_DIR + name;
  return undefined;
}

const cache = new Map<string, Buffer | null>();

function file(name: string): Buffer | undefined {
  const path = locate(name);
  if (!path) return undefined;
  let body = cache.get(name);
  if (body === undefined) {
    try {
      body = readFileSync(path);
    } catch {
      body = null;
    }
    if (cache.size < 64) cache.set(name, body);
  }
  return body ?? undefined;
}

/** Sends one of the page's files (GET /, /assets/NAME); false when there is no such file. */
export function sendPageFile(res: ServerResponse, name: string): boolean {
  const body = file(name);
  if (!body) return false;
  const ext = /\.[a-z]+$/.exec(name)?.[0] ?? '';
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': TYPES[ext] ?? 'application/octet-stream', 'content-length': body.length }).end(body);
  return true;
}

export function sendJson(res: ServerResponse, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': body.length }).end(body);
}

export function sendText(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', ...extra }).end(`${text}\n`);
}

/** The page's token from its cookie, if any. */
export function cookieToken(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === TOKEN_COOKIE) {
      try {
        return decodeURIComponent(v.join('='));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * A page opened as `/?token=T` with the right token: the token goes into an
 * HttpOnly, SameSite=Strict cookie (the page's scripts never see it, other
 * sites' pages cannot send it) and the browser is sent back to `/`, so the
 * token leaves the address bar and the history.
 */
export function redirectWithCookie(res: ServerResponse, token: string): void {
  res
    .writeHead(303, {
      ...SECURITY_HEADERS,
      location: '/',
      'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`,
    })
    .end();
}

/**
 * A websocket or fetch that authenticates with the cookie must come from the
 * page itself: its Origin is this server (a cross-site page's websocket
 * carries no SameSite=Strict cookie anyway; this holds for old browsers too).
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true; // not a browser's cross-origin request
  const host = req.headers.host;
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
}
