import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { PmtuError } from '../../src/errors.js';
import { claimState, formatState, judge, listStates, parseState, readState, removeState, statePath, writeState, type LabState } from '../../src/lab/state.js';

const OWNER = { pid: 4242, startTime: '1501783', pidNs: 'pid:[4026531836]', bootId: 'b008e22a-2f7f-4f79-ab30-85a57e517c2b' };

const UP: LabState = {
  version: 1,
  scenario: 'rp-filter',
  number: 3,
  status: 'up',
  prefix: 'pmtu-lab-4242-e7fdee',
  ns: { c: 'pmtu-lab-4242-e7fdee-c', s: 'pmtu-lab-4242-e7fdee-s' },
  addrs: { c: '198.18.1.2', s: '198.18.3.2' },
  tryThis: ['ip netns exec pmtu-lab-4242-e7fdee-s ping -M do -s 4000 -c 3 198.18.1.2'],
  created: '2026-11-23T00:55:11.492Z',
  owner: OWNER,
};

const BUILDING: LabState = { ...UP, status: 'building', ns: {}, addrs: {}, tryThis: [] };
delete (BUILDING as Partial<LabState>).prefix;

function withChange(change: (j: Record<string, unknown>) => void): string {
  const j = JSON.parse(formatState(UP)) as Record<string, unknown>;
  change(j);
  return JSON.stringify(j);
}

describe('parseState', () => {
  it('reads back what formatState wrote, up and building', () => {
    expect(parseState(formatState(UP))).toEqual(UP);
    expect(parseState(formatState(BUILDING))).toEqual(BUILDING);
  });

  it('refuses what it cannot trust, as PMTU_ERR_STATE with a hint', () => {
    const cases: [string, RegExp][] = [
      ['{', /not JSON/],
      ['[]', /not an object/],
      [withChange((j) => (j.version = 2)), /version 2/],
      [withChange((j) => (j.scenario = '../etc')), /no scenario name/],
      [withChange((j) => (j.number = 0)), /no scenario number/],
      [withChange((j) => (j.status = 'down')), /status "down"/],
      [withChange((j) => (j.prefix = 'other-1')), /prefix "other-1"/],
      [withChange((j) => delete j.prefix), /up without a prefix/],
      [withChange((j) => (j.ns = { c: 'pmtu-lab-1-aaaaaa-c' })), /outside its prefix/],
      [withChange((j) => (j.addrs = { c: 1 })), /map names to strings/],
      [withChange((j) => (j.tryThis = 'ping')), /tryThis/],
      [withChange((j) => (j.created = 'yesterday')), /creation time/],
      [withChange((j) => (j.owner = { pid: 1 })), /no owner/],
    ];
    for (const [text, why] of cases) {
      let err: unknown;
      try {
        parseState(text, '/run/pmtu-watch/lab/x.up.json');
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(PmtuError);
      expect((err as PmtuError).code).toBe('PMTU_ERR_STATE');
      expect((err as PmtuError).message).toMatch(/^unreadable lab state \/run\/pmtu-watch\/lab\/x\.up\.json: /);
      expect((err as PmtuError).message, text).toMatch(why);
      expect((err as PmtuError).hint).toBe('pmtu-watch lab down NAME removes it');
    }
  });

  it('keeps only the fields it knows', () => {
    expect(parseState(withChange((j) => (j.extra = 'x')))).toEqual(UP);
  });
});

describe('judge', () => {
  const all = Object.values(UP.ns);

  it('up while its namespaces exist, whatever became of the `lab up` process', () => {
    expect(judge(UP, [...all, 'other'], 'dead')).toEqual({ is: 'up' });
    expect(judge(UP, all, 'alive')).toEqual({ is: 'up' });
  });

  it('stale when some or all of its namespaces are gone', () => {
    expect(judge(UP, [], 'dead')).toEqual({ is: 'stale', why: 'its namespaces are gone' });
    expect(judge(UP, [all[0]!], 'dead')).toEqual({ is: 'stale', why: '1 of its 2 namespaces are gone' });
  });

  it('building while its builder lives (or cannot be told dead), stale once it died', () => {
    expect(judge(BUILDING, [], 'alive')).toEqual({ is: 'building', pid: 4242 });
    expect(judge(BUILDING, [], 'owner is in another pid namespace (pid:[1])')).toEqual({ is: 'building', pid: 4242 });
    expect(judge(BUILDING, [], 'dead')).toEqual({ is: 'stale', why: 'its `lab up` (pid 4242) died while building it' });
  });
});

describe('state files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pmtu-state-test-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('claims a scenario once; rewrites atomically; reads, lists and removes it', () => {
    expect(readState('rp-filter', dir)).toBeUndefined();
    expect(claimState(BUILDING, dir)).toBe(true);
    expect(claimState(BUILDING, dir)).toBe(false); // a second `lab up` loses
    expect(readState('rp-filter', dir)).toEqual(BUILDING);
    writeState(UP, dir);
    expect(readState('rp-filter', dir)).toEqual(UP);
    expect(readFileSync(statePath('rp-filter', dir), 'utf8')).toBe(formatState(UP));
    expect(listStates(dir)).toEqual([{ name: 'rp-filter', state: UP }]);
    expect(removeState('rp-filter', dir)).toBe(true);
    expect(removeState('rp-filter', dir)).toBe(false);
    expect(listStates(dir)).toEqual([]);
  });

  it('lists unreadable files with their error, and ignores the markers and temporary files beside them', () => {
    writeFileSync(join(dir, 'firewall.up.json'), '{"version":1');
    writeFileSync(join(dir, 'pmtu-lab-1-abcdef.json'), '{"prefix":"pmtu-lab-1-abcdef","pid":1}');
    writeFileSync(join(dir, 'healthy.up.json.99.tmp'), 'x');
    writeState({ ...UP, scenario: 'healthy', number: 1 }, dir);
    const listed = listStates(dir);
    expect(listed.map((l) => l.name)).toEqual(['firewall', 'healthy']);
    expect(listed[0]!.error?.code).toBe('PMTU_ERR_STATE');
    expect(listed[1]!.state?.scenario).toBe('healthy');
  });

  it('refuses a file that names another scenario, and names that would leave the directory', () => {
    writeFileSync(join(dir, 'firewall.up.json'), formatState(UP));
    expect(() => readState('firewall', dir)).toThrow(/names scenario rp-filter/);
    expect(() => statePath('../passwd', dir)).toThrow(/bad scenario name/);
  });
});
