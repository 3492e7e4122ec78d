// `pmtu-watch probe` flags without a process: bad ones are one line and
// exit 2 before anything is sent; a DEST must be an address.

import { describe, expect, it } from 'vitest';

import { main, type ProgramDeps } from '../../src/cli/main.js';
import { fakeAddon, fakeNameSources } from '../helpers/fake-addon.js';

async function run(args: string[], deps: ProgramDeps = {}): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'pmtu-watch', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) }, deps);
  return { code, out, err };
}

/** deps whose addon must not be reached. */
const untouched: ProgramDeps = {
  probe: {
    addon: () => {
      throw new Error('the addon should not have been loaded');
    },
  },
};

describe('pmtu-watch probe flags', () => {
  for (const [args, message] of [
    [['probe', 'example.com'], /DEST must be an IPv4 or IPv6 address, not "example.com" \(probe resolves no names\)/],
    [['probe', '198.18.300.1'], /DEST must be an IPv4 or IPv6 address/],
    [['probe'], /missing required argument 'DEST'/],
    [['probe', '--proto', 'sctp', '198.18.3.2'], /--proto.*sctp.*icmp, udp, tcp/],
    [['probe', '--port', '0', '--proto', 'udp', '198.18.3.2'], /--port must be an integer from 1 to 65535/],
    [['probe', '--port', '70000', '--proto', 'tcp', '198.18.3.2'], /--port must be an integer from 1 to 65535/],
    [['probe', '--timeout', '-1', '198.18.3.2'], /--timeout must be a number of seconds above 0, at most 300/],
    [['probe', '--timeout', 'soon', '198.18.3.2'], /--timeout must be/],
    [['probe', '--bogus', '198.18.3.2'], /unknown option '--bogus'/],
    [['probe', '--proto', 'tcp', '198.18.3.2'], /--proto tcp needs --port/],
    [['probe', '--port', '80', '198.18.3.2'], /--port is for --proto udp or tcp/],
  ] as const) {
    it(`${args.slice(1).join(' ') || '(no DEST)'}: one line, exit 2`, async () => {
      const r = await run([...args], untouched);
      expect(r.code).toBe(2);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(/^pmtu-watch: /);
      expect(r.err[0]).toMatch(message);
      expect(r.out).toEqual([]);
    });
  }

  it('a namespace that is not there: one line, exit 1, nothing sent', async () => {
    const r = await run(['probe', '--netns', 'nowhere', '198.18.3.2'], { probe: { ...untouched.probe, sources: fakeNameSources() } });
    expect(r.code).toBe(1);
    expect(r.err).toEqual(['pmtu-watch: no network namespace named "nowhere" (see `ip netns list`)']);
  });

  it('a socket it may not open: one line, exit 1', async () => {
    const { addon } = fakeAddon();
    const deps: ProgramDeps = {
      probe: {
        addon: () => ({ ...addon, routeGet: () => ({ found: true, mtu: 0, expires: 0, ifindex: 2 }) }),
        open: () => {
          throw new Error('no observers here');
        },
      },
    };
    const r = await run(['probe', '198.18.3.2'], deps);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/warning: the observers cannot run \(no observers here\)/);
    expect(r.err[r.err.length - 1]).toBe('pmtu-watch: the fake addon sends no probes');
  });

  it('--help describes it', async () => {
    const r = await run(['probe', '--help']);
    expect(r.code).toBe(0);
    const help = r.out.join('\n');
    for (const word of ['DEST', '--netns', '--proto', '--port', '--timeout', '--json', 'binary search', 'TTL', 'rp_filter', 'caches', 'Exit status']) expect(help).toContain(word);
  });
});
