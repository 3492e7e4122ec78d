import { describe, expect, it } from 'vitest';

import { formatTable, formatValue, median, notAvailable, toJson, unmeasured, type BenchReport } from '../../src/bench/report.js';

const host = { kernel: '6.18.0', cpus: 2, node: 'v20.0.0', date: '2025-01-01T00:00:00.000Z' };

function report(): BenchReport {
  return {
    host,
    sections: [
      {
        id: 'tc',
        title: '1. tc program, per packet',
        how: 'test runs',
        figures: [
          { id: 'tc.empty', label: 'empty tc program', value: 13, unit: 'ns', peer: true },
          {
            id: 'tc.tcp4',
            label: 'IPv4 TCP data',
            value: 52.4,
            unit: 'ns',
            ratio: { value: 4.03, of: 'empty', style: 'times' },
            target: { text: '<= 1.5x empty', pass: false },
          },
          { id: 'tc.ptb4', label: 'IPv4 PTB (event)', value: 110, unit: 'ns', target: { text: '< 400 ns', pass: true }, note: 'a note' },
        ],
      },
      {
        id: 'traffic',
        title: '3. Traffic',
        how: 'iperf3',
        figures: [
          { id: 'traffic.bare', label: 'nothing attached', value: 14.3e9, unit: 'bit/s', peer: true },
          notAvailable('traffic.bpftrace', 'bpftrace', 'bit/s', 'bpftrace exited: tracepoint not found', true),
        ],
      },
    ],
  };
}

describe('bench report', () => {
  it('formats each unit for a reader', () => {
    expect(formatValue(13, 'ns')).toBe('13.0 ns');
    expect(formatValue(1234, 'ns')).toBe('1.23 us');
    expect(formatValue(72_200, 'events/s')).toBe('72.2 kev/s');
    expect(formatValue(1_500_000, 'events/s')).toBe('1.50 Mev/s');
    expect(formatValue(14.3e9, 'bit/s')).toBe('14.3 Gbit/s');
    expect(formatValue(195.4, 'bytes')).toBe('195 B');
    expect(formatValue(0.196, 'percent')).toBe('19.6%');
  });

  it('prints a row per figure with its ratio, target and verdict, aligned, and says why a peer is n/a', () => {
    const lines = formatTable(report()).split('\n');
    expect(lines[0]).toBe('pmtu-watch bench: Linux 6.18.0, 2 CPUs, node v20.0.0, 2025-01-01T00:00:00.000Z');
    const tcp = lines.find((l) => l.includes('IPv4 TCP data'))!;
    const ptb = lines.find((l) => l.includes('IPv4 PTB'))!;
    expect(tcp).toMatch(/52\.4 ns\s+4\.03x empty\s+<= 1\.5x empty\s+MISS$/);
    expect(ptb).toMatch(/110 ns\s+< 400 ns\s+pass$/);
    expect(tcp.indexOf('52.4 ns')).toBe(ptb.indexOf('110 ns'));
    expect(lines[lines.indexOf(ptb) + 1]).toBe('      a note');
    expect(lines.find((l) => l.startsWith('  bpftrace'))).toMatch(/^ {2}bpftrace\s+n\/a \(bpftrace exited: tracepoint not found\)$/);
    expect(lines.at(-1)).toBe('targets: 1 of 2 met; missed: tc.tcp4');
  });

  it('gives the same figures as one JSON object', () => {
    const j = JSON.parse(toJson(report())) as { type: string; sections: { figures: { id: string; value: number | null }[] }[]; targets: { met: string[]; missed: string[] } };
    expect(j.type).toBe('bench');
    expect(j.sections.flatMap((s) => s.figures.map((f) => f.id))).toEqual(['tc.empty', 'tc.tcp4', 'tc.ptb4', 'traffic.bare', 'traffic.bpftrace']);
    expect(j.sections[1]!.figures[1]!.value).toBeNull();
    expect(j.targets).toEqual({ met: ['tc.ptb4'], missed: ['tc.tcp4'] });
  });

  it('fails the run only for figures of pmtu-watch itself that could not be measured', () => {
    expect(unmeasured(report())).toEqual([]);
    const r = report();
    r.sections[0]!.figures.push(notAvailable('tc.syn4', 'SYN', 'ns', 'pmtu-bench is not built'));
    expect(unmeasured(r).map((f) => f.id)).toEqual(['tc.syn4']);
  });

  it('takes the median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
