// Where the addon is absent (macOS, or a Linux install whose build was moved
// away), analyze, report, replay and export run as usual and never ask for it; live,
// record and audit stop with the one-line PMTU_ERR_NO_ADDON error.

import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { LINKTYPE } from '../../src/capture/foreign.js';
import { PmtuError } from '../../src/errors.js';
import { pcap } from '../helpers/pcap-files.js';
import { CLIENT, data, handshake, ptb, ROUTER, SERVER } from '../helpers/tcp-flows.js';

const loadAddon = vi.fn(() => {
  throw new PmtuError('PMTU_ERR_NO_ADDON', 'cannot load the native addon build/Release/pmtu_native.node: Cannot find module', 'run npm install: it builds the addon');
});
vi.mock('../../src/observer/addon.js', () => ({ loadAddon, ADDON_PATH: 'build/Release/pmtu_native.node' }));

const { main } = await import('../../src/cli/main.js');

const FIXTURE = join(import.meta.dirname, '../fixtures/captures/v0.1-rp-filter.pmtucap');
const dir = mkdtempSync(join(tmpdir(), 'pmtu-no-addon-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'pmtu-watch', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) }, { live: { stopRequested: new Promise(() => {}) } });
  return { code, out, err };
}

beforeEach(() => {
  loadAddon.mockClear();
});

describe('without the addon', () => {
  it('report, report --json, replay and export work and never load it', async () => {
    const report = await run('report', FIXTURE);
    expect(report.code).toBe(0);
    expect(report.out.join('\n')).toContain('PTB-DROPPED');
    const json = await run('report', '--json', FIXTURE);
    expect(json.code).toBe(0);
    expect(json.out.map((l) => JSON.parse(l).verdict)).toContain('ptb-dropped');
    const replay = await run('replay', '--speed', '0', FIXTURE);
    expect(replay.code).toBe(0);
    expect(replay.out.join('\n')).toContain('PTB-DROPPED rp_filter');
    const out = join(dir, 'x.pcapng');
    expect((await run('export', FIXTURE, '--pcapng', out)).code).toBe(0);
    expect(statSync(out).size).toBeGreaterThan(1000);
    expect(loadAddon).not.toHaveBeenCalled();
  });

  it('analyze reads a tcpdump capture and never loads it', async () => {
    const big = data(SERVER, CLIENT, 5000, 9000);
    const items = [...handshake(0, CLIENT, SERVER, { client: 8960, server: 8960 }), { ms: 10, packet: big }, { ms: 10.5, packet: ptb(ROUTER, big, 1500) }, { ms: 11, packet: data(SERVER, CLIENT, 5000, 1500) }];
    const file = join(dir, 'bottleneck.pcap');
    writeFileSync(file, pcap({ linkType: LINKTYPE.RAW }, items.map((x) => ({ sec: 1_700_000_000, frac: Math.round(x.ms * 1000), data: x.packet }))));
    const text = await run('analyze', file);
    expect(text.code).toBe(0);
    expect(text.out.join('\n')).toContain('PTB-HONORED');
    const json = await run('analyze', '--json', file);
    expect(json.code).toBe(0);
    expect(json.out.map((l) => JSON.parse(l).verdict)).toContain('ptb-honored');
    expect(loadAddon).not.toHaveBeenCalled();
  });

  it('live, record and audit stop with the one-line PMTU_ERR_NO_ADDON error', async () => {
    for (const args of [['live', '--duration', '1'], ['record', '-o', join(dir, 'r.pmtucap'), '--duration', '1'], ['audit']]) {
      const r = await run(...args);
      expect(r.code, args[0]).not.toBe(0);
      expect(r.err, args[0]).toEqual(['pmtu-watch: cannot load the native addon build/Release/pmtu_native.node: Cannot find module (run npm install: it builds the addon)']);
    }
  });
});
