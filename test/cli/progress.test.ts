// Progress on stderr for long files: only on a terminal, only after a second,
// at most every 200 ms, and the line cleared at the end.

import { describe, expect, it } from 'vitest';

import { fileProgress } from '../../src/cli/progress.js';

function fake(isTTY: boolean) {
  const writes: string[] = [];
  let t = 0;
  return { stream: { isTTY, write: (s: string) => writes.push(s) }, writes, clock: { now: () => t, set: (ms: number) => (t = ms) } };
}

describe('fileProgress', () => {
  it('says nothing when stderr is not a terminal', () => {
    const f = fake(false);
    const p = fileProgress('big.pcap', { stream: f.stream, now: f.clock.now });
    for (let i = 0; i < 100; i++) {
      f.clock.set(i * 100);
      p.update(i * 1e6, 1e8);
    }
    p.done();
    expect(f.writes).toEqual([]);
  });

  it('on a terminal: silent for the first second, then at most every 200 ms, cleared at the end', () => {
    const f = fake(true);
    const p = fileProgress('big.pcap', { stream: f.stream, now: f.clock.now });
    for (let ms = 0; ms <= 2000; ms += 50) {
      f.clock.set(ms);
      p.update(ms * 1e6, 2.5e9);
    }
    p.done();
    expect(f.writes).toEqual([
      '\r\x1b[Kbig.pcap: 40% (1.00 of 2.50 GB, 1.00 GB/s)',
      '\r\x1b[Kbig.pcap: 48% (1.20 of 2.50 GB, 1.00 GB/s)',
      '\r\x1b[Kbig.pcap: 56% (1.40 of 2.50 GB, 1.00 GB/s)',
      '\r\x1b[Kbig.pcap: 64% (1.60 of 2.50 GB, 1.00 GB/s)',
      '\r\x1b[Kbig.pcap: 72% (1.80 of 2.50 GB, 1.00 GB/s)',
      '\r\x1b[Kbig.pcap: 80% (2.00 of 2.50 GB, 1.00 GB/s)',
      '\r\x1b[K',
    ]);
  });

  it('a file read within the first second leaves no trace', () => {
    const f = fake(true);
    const p = fileProgress('small.pcap', { stream: f.stream, now: f.clock.now });
    f.clock.set(300);
    p.update(5e6, 5e6);
    p.done();
    expect(f.writes).toEqual([]);
  });
});
