import { describe, expect, it } from 'vitest';

import { bareNoise, busySection, nsPerPacket, QUIET_STEAL, quiet, shares, type BusyRound, type BusyRuns } from '../../src/bench/busy.js';
import {
  eventsLost,
  lastStats,
  nginxConfig,
  parseAb,
  parseCpuTicks,
  parseFdinfoProgId,
  parseProcStat,
  parseTcFilterProgs,
  parseTcpdumpStats,
  progRunDelta,
  sumProgRuns,
  untilExit,
} from '../../src/bench/busy-lab.js';
import { formatTable, formatValue, toJson } from '../../src/bench/report.js';

const AB = `This is ApacheBench, Version 2.3 <$Revision$>
Benchmarking 198.18.0.2 (be patient).....done

Server Software:        nginx/1.22.1
Concurrency Level:      32
Time taken for tests:   2.083 seconds
Complete requests:      50000
Failed requests:        3
   (Connect: 0, Receive: 0, Length: 3, Exceptions: 0)
Non-2xx responses:      2
Total transferred:      7250000 bytes
Requests per second:    24003.84 [#/sec] (mean)
Time per request:       1.333 [ms] (mean)
`;

describe('busy-host parsers', () => {
  it("reads ab's summary, counting non-2xx answers as failures", () => {
    expect(parseAb(AB)).toEqual({ complete: 50000, failed: 5, rps: 24003.84, seconds: 2.083 });
    expect(parseAb('apr_socket_recv: Connection refused (111)\n')).toBeUndefined();
  });

  it('reads utime and stime from /proc/PID/stat, whatever the command name holds', () => {
    const fields = ['S', '1', '2', '3', '0', '-1', '4194560', '15878', '0', '0', '0', '22', '21', '0', '0', '20'];
    expect(parseProcStat(`7443 (node) ${fields.join(' ')}`)).toEqual({ utime: 22, stime: 21 });
    expect(parseProcStat(`7443 (a) b (c) ${fields.join(' ')}`)).toEqual({ utime: 22, stime: 21 });
    expect(() => parseProcStat('7443 (x) S')).toThrow();
  });

  it("reads the machine's CPU ticks and the hypervisor's steal from /proc/stat", () => {
    expect(parseCpuTicks('cpu  38077 0 25894 84451 360 0 12142 5164 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n')).toEqual({ total: 166088, steal: 5164 });
    // A kernel that counts no steal: four fields.
    expect(parseCpuTicks('cpu 10 0 20 70\n')).toEqual({ total: 100, steal: 0 });
    expect(() => parseCpuTicks('intr 1 2 3\n')).toThrow('unreadable /proc/stat');
    expect(() => parseCpuTicks('cpu 1 x 3 4\n')).toThrow('unreadable /proc/stat');
  });

  it("reads tcpdump's closing counts", () => {
    const err = 'tcpdump: listening on va\n198646 packets captured\n198650 packets received by filter\n4 packets dropped by kernel\n';
    expect(parseTcpdumpStats(err)).toEqual({ captured: 198646, dropped: 4 });
    expect(parseTcpdumpStats('')).toEqual({ captured: 0, dropped: 0 });
  });

  it('finds the programs on a tc hook, named by the loader or by their section', () => {
    const text = [
      'filter protocol all pref 1 bpf chain 0 ',
      'filter protocol all pref 1 bpf chain 0 handle 0x1 pmtu_tc_ingress direct-action not_in_hw id 223 tag 42797bf71d19cf24 jited ',
      'filter protocol all pref 49152 bpf chain 0 handle 0x1 empty.bpf.o:[tc] direct-action not_in_hw id 100 name bench_empty tag 42797bf71d19cf24 jited ',
    ].join('\n');
    expect(parseTcFilterProgs(text)).toEqual([
      { id: 223, name: 'pmtu_tc_ingress' },
      { id: 100, name: 'bench_empty' },
    ]);
  });

  it("reads a bpf-prog fd's program id from its fdinfo", () => {
    expect(parseFdinfoProgId('pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nprog_type:\t3\nprog_jited:\t1\nprog_tag:\t42797bf71d19cf24\nmemlock:\t4096\nprog_id:\t223\nrun_time_ns:\t0\n')).toBe(223);
    expect(parseFdinfoProgId('pos:\t0\nmap_id:\t12\n')).toBeUndefined();
  });

  it("sums the kernel's run time of the chosen programs (bpftool leaves out zeros)", () => {
    const progs = [
      { id: 1, name: 'a', run_time_ns: 1000, run_cnt: 10 },
      { id: 2, name: 'b' },
      { id: 3, name: 'c', run_time_ns: 500, run_cnt: 5 },
    ];
    expect(sumProgRuns(progs, [1, 2])).toMatchObject({ runTimeNs: 1000, runCnt: 10 });
    const both = sumProgRuns([...progs, { id: 4, name: 'c', run_time_ns: 100, run_cnt: 1 }], [1, 3, 4]);
    expect(both).toEqual({ runTimeNs: 1600, runCnt: 16, byName: { a: { runTimeNs: 1000, runCnt: 10 }, c: { runTimeNs: 600, runCnt: 6 } } });
    // Between two readings; a program that appeared meanwhile counts from 0.
    expect(progRunDelta(sumProgRuns(progs, [1]), both)).toEqual({ runTimeNs: 600, runCnt: 6, byName: { a: { runTimeNs: 0, runCnt: 0 }, c: { runTimeNs: 600, runCnt: 6 } } });
  });

  it('takes the last complete stats line of live --json, and counts lost events as live does', () => {
    const s = (q: number) => JSON.stringify({ type: 'stats', losses: { ringbufFull: 1, flowTableFull: 7, queueFull: q, delivered: 9 } });
    const text = `{"type":"stats","losses":{"ringb\n${s(2)}\n{"type":"event","kind":"syn"}\n${s(5)}\n{"type":"stats","losses":{"rin`;
    const last = lastStats(text);
    expect(last?.losses?.queueFull).toBe(5);
    expect(eventsLost(last)).toBe(6);
    expect(eventsLost(undefined)).toBeUndefined();
    expect(lastStats('{"type":"event"}\n')).toBeUndefined();
  });

  it("nginx's config keeps every file under its own directory", () => {
    const conf = nginxConfig('/tmp/pmtu-busy-x', '198.18.0.2:80');
    expect(conf).not.toMatch(/\/etc\/nginx|\/var\/log|\/run\//);
    for (const m of conf.matchAll(/(?:pid|error_log|_temp_path) (\S+?);?\s/g)) expect(m[1]).toMatch(/^\/tmp\/pmtu-busy-x\//);
    expect(conf).toContain('daemon off;');
    expect(conf).toContain('listen 198.18.0.2:80');
  });
});

function round(watcher: string, n: number, rps: number, extra: Partial<BusyRound> = {}): BusyRound {
  return { watcher, round: n, rps, complete: 50000, failed: 0, seconds: 50000 / rps, ...extra };
}

function runs(): BusyRuns {
  const rounds: BusyRound[] = [];
  const bare = [20000, 22000, 21000];
  const pmtu = [19800, 21500, 20000];
  for (let i = 0; i < 3; i++) {
    rounds.push(round('bare', i, bare[i]!));
    rounds.push(round('pmtu', i, pmtu[i]!, { cpuS: 0.05, lost: 0, losses: { ringbufFull: 0, queueFull: 0, flowTableFull: 0, delivered: 12 } }));
    rounds.push(round('tcpdump', i, bare[i]! * 0.9, { cpuS: 0.5, lost: i }));
    rounds.push(round('empty', i, bare[i]! * 0.99));
  }
  // The rounds that time the programs (bpf_stats_enabled): their rates never count.
  const timing = { kernelTime: true, complete: 50000, seconds: 2.5 };
  const byName = { pmtu_tc_ingress: { runTimeNs: 5e8, runCnt: 1.5e6 }, pmtu_tc_egress: { runTimeNs: 4e8, runCnt: 1.5e6 }, tcp_probe: { runTimeNs: 6e8, runCnt: 3e6 } };
  rounds.push(round('pmtu', 3, 1, { ...timing, lost: 0, cpuS: 9, run: { runTimeNs: 9e8, runCnt: 3e6 }, allRun: { runTimeNs: 15e8, runCnt: 6e6, byName } }));
  rounds.push(round('empty', 3, 1, { ...timing, run: { runTimeNs: 1.8e8, runCnt: 3e6 }, allRun: { runTimeNs: 1.8e8, runCnt: 3e6 } }));
  return { requests: 50000, rounds, why: {}, found: { latencyMs: 12.5, evidence: 'drop', lost: 0, complete: 60000, rps: 20000, cpuS: 0.06 }, seconds: 61 };
}

describe('busy-host cleanup', () => {
  it('undoes once, when asked or at exit, and leaves no listener behind', () => {
    const before = ['exit', 'SIGINT', 'SIGTERM', 'SIGHUP'].map((e) => process.listenerCount(e));
    let undone = 0;
    const undo = untilExit(() => undone++);
    expect(process.listenerCount('SIGINT')).toBe(before[1]! + 1);
    undo();
    undo();
    expect(undone).toBe(1);
    expect(['exit', 'SIGINT', 'SIGTERM', 'SIGHUP'].map((e) => process.listenerCount(e))).toEqual(before);
    const failing = untilExit(() => {
      throw new Error('already gone');
    });
    expect(() => failing()).not.toThrow();
  });
});

describe('busy-host figures', () => {
  it("compares each round with the same round's bare run", () => {
    expect(shares(runs(), 'pmtu').map((x) => x.toFixed(3))).toEqual(['0.990', '0.977', '0.952']);
    expect(nsPerPacket(runs(), 'pmtu')).toEqual({ ns: 300, runs: 3e6 });
    expect(nsPerPacket(runs(), 'bare')).toBeUndefined();
  });

  it('gives rates, ratios, CPU, losses, ns per packet and the verdict delay, each with its target', () => {
    const s = busySection(runs());
    const by = new Map(s.figures.map((f) => [f.id, f]));
    expect(by.get('busy.pmtu')).toMatchObject({ unit: 'requests/s', ratio: { of: 'bare', style: 'percent' }, target: { text: '>= 97% of bare', pass: true } });
    expect(by.get('busy.pmtu')!.ratio!.value).toBeCloseTo(0.977, 3);
    // 0.05 CPU seconds over a 50000-request round at ~20k/s: 2% of a core.
    expect(by.get('busy.pmtu_cpu')!.value).toBeCloseTo(0.05 / (50000 / 20000), 4);
    expect(by.get('busy.pmtu_cpu')!.target!.pass).toBe(true);
    expect(by.get('busy.pmtu_lost')).toMatchObject({ value: 0, target: { text: '0', pass: true } });
    expect(by.get('busy.tcpdump_lost')).toMatchObject({ value: 3, peer: true });
    expect(by.get('busy.tcpdump_lost')!.target).toBeUndefined();
    expect(by.get('busy.empty')!.ratio!.value).toBeCloseTo(0.99, 6);
    expect(by.get('busy.empty_cpu')).toBeUndefined(); // no process of its own
    // 1.5 s of BPF run time in a timing round of 50000 requests in 2.5 s: 60% of a core, 30 us per request.
    expect(by.get('busy.pmtu_bpf')!.value).toBeCloseTo(0.6, 6);
    expect(by.get('busy.pmtu_bpf')!.note).toContain('30.00 us per request: tcp_probe 12.00 us (60.0 runs), pmtu_tc_ingress 10.00 us (30.0 runs), pmtu_tc_egress 8.00 us (30.0 runs)');
    expect(by.get('busy.empty_bpf')!.value).toBeCloseTo(0.072, 6);
    expect(by.get('busy.pmtu_bpf')!.target).toBeUndefined();
    expect(by.get('busy.tc_pmtu')).toMatchObject({ value: 300, ratio: { value: 5, of: 'empty', style: 'times' } });
    expect(by.get('busy.tc_empty')).toMatchObject({ value: 60, peer: true });
    expect(by.get('busy.found')).toMatchObject({ value: 12.5, unit: 'ms', target: { text: '< 1 s', pass: true } });
    expect(s.how).toContain('ab -n 50000 -c 32');
    expect(s.how).toContain('bpf_stats_enabled=1');
    // Runs without places in their round: no bare-to-bare noise to tell.
    expect(by.get('busy.pmtu')!.note).not.toContain('in a row');
  });

  it('compares a watched run with the bare runs just before and after it, and tells the noise that leaves', () => {
    // One round: bare 20k, pmtu, bare 22k, empty, bare 21k.
    const r: BusyRuns = {
      requests: 25000,
      rounds: [
        round('bare', 0, 20000, { seq: 0 }),
        round('pmtu', 0, 20580, { seq: 1 }),
        round('bare', 0, 22000, { seq: 2 }),
        round('empty', 0, 21000, { seq: 3 }),
        round('bare', 0, 21000, { seq: 4 }),
        round('bare', 1, 30000, { seq: 0 }),
        round('pmtu', 1, 29100, { seq: 1 }),
        round('bare', 1, 30000, { seq: 2 }),
      ],
      why: {},
      found: {},
    };
    expect(shares(r, 'pmtu').map((x) => x.toFixed(3))).toEqual(['0.980', '0.970']);
    expect(shares(r, 'empty').map((x) => x.toFixed(3))).toEqual([(21000 / 21500).toFixed(3)]);
    // Bare to next bare: 10%, 4.5%, 0%: median 4.5%, more than the 3% the target is about.
    expect(bareNoise(r)).toBeCloseTo(1 / 22, 6);
    expect(busySection(r).figures.find((f) => f.id === 'busy.pmtu')!.note).toContain('two bare runs in a row differ by 4.5% (median)');
  });

  it('sets aside the runs the hypervisor disturbed, and the comparisons they were part of', () => {
    const stolen = QUIET_STEAL * 4;
    // Round 0: the bare run after pmtu was disturbed, so pmtu is compared with the one before only.
    // Round 1: pmtu itself was disturbed. Round 2: calm throughout.
    const r: BusyRuns = {
      requests: 25000,
      rounds: [
        round('bare', 0, 20000, { seq: 0, steal: 0 }),
        round('pmtu', 0, 19600, { seq: 1, steal: 0.01 }),
        round('bare', 0, 12000, { seq: 2, steal: stolen }),
        round('bare', 1, 20000, { seq: 0, steal: 0 }),
        round('pmtu', 1, 11000, { seq: 1, steal: stolen }),
        round('bare', 1, 20000, { seq: 2, steal: 0 }),
        round('bare', 2, 21000, { seq: 0, steal: 0 }),
        round('pmtu', 2, 20790, { seq: 1, steal: 0 }),
        round('bare', 2, 21000, { seq: 2, steal: QUIET_STEAL }),
      ],
      why: {},
      found: {},
    };
    expect(quiet(r.rounds[2]!)).toBe(false);
    expect(quiet(r.rounds[8]!)).toBe(true); // at the limit: kept
    expect(quiet(round('bare', 0, 1))).toBe(true); // steal not read: kept
    expect(shares(r, 'pmtu').map((x) => x.toFixed(3))).toEqual(['0.980', '0.990']);
    // Bare to next bare, calm pairs only: round 1's 0%, round 2's 0%.
    expect(bareNoise(r)).toBe(0);
    const by = new Map(busySection(r).figures.map((f) => [f.id, f]));
    expect(by.get('busy.pmtu')).toMatchObject({ value: 20195, ratio: { value: 0.985 }, target: { pass: true } });
    expect(by.get('busy.bare')!.value).toBe(20000); // the median of the five calm bare runs, not of all seven
    expect(by.get('busy.bare')!.note).toContain('2 of 9 runs set aside, the hypervisor taking more than 2% of the CPU (steal, up to 8%)');
  });

  it('misses the targets it misses', () => {
    const r = runs();
    for (const x of r.rounds.filter((x) => x.watcher === 'pmtu' && !x.kernelTime)) {
      x.rps *= 0.5;
      x.cpuS = 2;
      x.lost = 100;
    }
    r.found = { latencyMs: 1500, evidence: 'verdict' };
    const by = new Map(busySection(r).figures.map((f) => [f.id, f]));
    expect(by.get('busy.pmtu')!.target!.pass).toBe(false);
    expect(by.get('busy.pmtu_cpu')!.target!.pass).toBe(false);
    expect(by.get('busy.pmtu_lost')).toMatchObject({ value: 300, target: { pass: false } }); // the timing round lost none
    expect(by.get('busy.found')!.target!.pass).toBe(false);
    expect(by.get('busy.found')!.note).toContain("verdict's ts");
  });

  it('says why, row by row, what could not be measured', () => {
    const r: BusyRuns = { requests: 50000, rounds: [], why: { bare: 'lab: nginx exited', tcpdump: 'tcpdump exited' }, found: { why: 'no ptb-dropped verdict' } };
    const s = busySection(r);
    const by = new Map(s.figures.map((f) => [f.id, f]));
    expect(by.get('busy.bare')).toMatchObject({ value: null, na: 'lab: nginx exited', peer: true });
    expect(by.get('busy.pmtu')).toMatchObject({ value: null, na: 'lab: nginx exited' });
    expect(by.get('busy.pmtu')!.peer).toBeUndefined(); // pmtu-watch's own: the bench fails
    expect(by.get('busy.pmtu_lost')!.value).toBeNull();
    expect(by.get('busy.tcpdump')).toMatchObject({ na: 'tcpdump exited', peer: true });
    expect(by.get('busy.found')).toMatchObject({ value: null, na: 'no ptb-dropped verdict' });
  });

  it('prints in the table and in the JSON object like the other sections', () => {
    const report = { host: { kernel: '6.18.0', cpus: 2, node: 'v20.0.0', date: '2025-01-01T00:00:00.000Z' }, sections: [busySection(runs())] };
    const lines = formatTable(report).split('\n');
    expect(lines).toContain('6. Busy host, nginx + ab through a veth pair');
    expect(lines.find((l) => l.startsWith('  pmtu-watch live'))).toMatch(/20\.0 kreq\/s\s+97\.7% of bare\s+>= 97% of bare\s+pass$/);
    expect(lines.find((l) => l.includes('its CPU') && l.includes('<= 5%'))).toMatch(/2\.0%\s+<= 5% of a core\s+pass$/);
    expect(lines.find((l) => l.includes("pmtu-watch's tc programs"))).toMatch(/300 ns\s+5\.00x empty/);
    expect(lines.find((l) => l.includes('rp_filter black hole'))).toMatch(/12\.5 ms\s+< 1 s\s+pass$/);
    const j = JSON.parse(toJson(report)) as { targets: { met: string[]; missed: string[] } };
    expect(j.targets.met).toEqual(['busy.pmtu', 'busy.pmtu_cpu', 'busy.pmtu_lost', 'busy.found']);
  });

  it('formats request rates and milliseconds', () => {
    expect(formatValue(24003.8, 'requests/s')).toBe('24.0 kreq/s');
    expect(formatValue(12.54, 'ms')).toBe('12.5 ms');
    expect(formatValue(250, 'ms')).toBe('250 ms');
  });
});
