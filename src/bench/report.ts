// What `npm run bench` measured, and its two forms: the table a person reads
// and the one JSON object a script reads. Pure: figures in, text out.

export type Unit = 'ns' | 'ms' | 'events/s' | 'packets/s' | 'requests/s' | 'bytes' | 'bit/s' | 'count' | 'percent';

export interface Target {
  /** What it should be, e.g. "<= 1.5x empty". */
  text: string;
  pass: boolean;
}

export interface Figure {
  /** Stable key in the JSON output. */
  id: string;
  label: string;
  /** null when it could not be measured (then `na` says why). */
  value: number | null;
  unit: Unit;
  /** This figure against the one it is compared with, measured in the same run. */
  ratio?: { value: number; of: string; style: 'times' | 'percent' };
  target?: Target;
  /** Why there is no value. */
  na?: string;
  /** A peer (tcpdump, bpftrace, the C consumer...): not measuring it does not fail the bench. */
  peer?: boolean;
  note?: string;
}

export interface Section {
  id: string;
  title: string;
  /** How it was measured, in one line. */
  how: string;
  figures: Figure[];
}

export interface BenchReport {
  host: {
    kernel: string;
    cpus: number;
    node: string;
    date: string;
    /** ms for 1e8 additions in a JavaScript loop, measured before the sections: how fast this CPU is today (a typical 3 GHz core takes ~70-100 ms). */
    jsLoopMs?: number;
  };
  sections: Section[];
}

/** A figure that could not be measured. */
export function notAvailable(id: string, label: string, unit: Unit, why: string, peer = false): Figure {
  return { id, label, value: null, unit, na: why, ...(peer ? { peer } : {}) };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function si(v: number, unit: string): string {
  const abs = Math.abs(v);
  const [div, prefix] = abs >= 1e9 ? [1e9, 'G'] : abs >= 1e6 ? [1e6, 'M'] : abs >= 1e3 ? [1e3, 'k'] : [1, ''];
  const x = v / div;
  const digits = div === 1 ? 0 : Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return `${x.toFixed(digits)} ${prefix}${unit}`;
}

export function formatValue(value: number, unit: Unit): string {
  switch (unit) {
    case 'ns':
      return value >= 1000 ? `${(value / 1000).toFixed(2)} us` : `${value.toFixed(value >= 100 ? 0 : 1)} ns`;
    case 'ms':
      return `${value.toFixed(value >= 100 ? 0 : 1)} ms`;
    case 'events/s':
      return si(value, 'ev/s');
    case 'packets/s':
      return si(value, 'pkt/s');
    case 'requests/s':
      return si(value, 'req/s');
    case 'bit/s':
      return si(value, 'bit/s');
    case 'bytes':
      return value >= 1e6 ? si(value, 'B') : `${Math.round(value)} B`;
    case 'count':
      return String(Math.round(value));
    case 'percent':
      return `${(value * 100).toFixed(1)}%`;
  }
}

export function formatRatio(r: NonNullable<Figure['ratio']>): string {
  return r.style === 'percent' ? `${(r.value * 100).toFixed(1)}% of ${r.of}` : `${r.value.toFixed(2)}x ${r.of}`;
}

/** The table: one block per section, columns aligned across the whole table. */
export function formatTable(report: BenchReport): string {
  const h = report.host;
  const lines = [`pmtu-watch bench: Linux ${h.kernel}, ${h.cpus} CPUs, node ${h.node}, ${h.date}`];
  if (h.jsLoopMs !== undefined) {
    lines.push(`  CPU speed: 1e8 JavaScript additions in ${h.jsLoopMs.toFixed(0)} ms (a typical 3 GHz core: ~70-100 ms); per-second JavaScript figures scale with it`);
  }
  const cells = (f: Figure): string[] => [
    `  ${f.label}`,
    f.value === null ? `n/a (${f.na ?? 'not measured'})` : formatValue(f.value, f.unit),
    f.value !== null && f.ratio ? formatRatio(f.ratio) : '',
    f.target?.text ?? '',
    !f.target ? '' : f.value === null ? 'n/a' : f.target.pass ? 'pass' : 'MISS',
  ];
  const all = report.sections.flatMap((s) => s.figures);
  // An n/a explanation is as long as it needs: it does not widen the value column.
  const widths = [0, 1, 2, 3].map((col) => Math.max(0, ...all.filter((f) => f.value !== null || col === 0).map((f) => cells(f)[col]!.length)));
  for (const s of report.sections) {
    lines.push('', s.title, `  (${s.how})`);
    for (const f of s.figures) {
      const c = cells(f);
      if (f.value === null) lines.push(`${c[0]!.padEnd(widths[0]!)}  ${c[1]}  ${c[3]}  ${c[4]}`.trimEnd());
      else lines.push(c.map((x, k) => (k < 4 ? x.padEnd(widths[k]!) : x)).join('  ').trimEnd());
      if (f.note) lines.push(`      ${f.note}`);
    }
  }
  const targets = report.sections.flatMap((s) => s.figures.filter((f) => f.target && f.value !== null));
  const missed = targets.filter((f) => !f.target!.pass);
  lines.push('', `targets: ${targets.length - missed.length} of ${targets.length} met${missed.length ? `; missed: ${missed.map((f) => f.id).join(', ')}` : ''}`);
  return lines.join('\n');
}

/** The same figures as one JSON object. */
export function toJson(report: BenchReport): string {
  const targets = report.sections.flatMap((s) => s.figures.filter((f) => f.target && f.value !== null));
  return JSON.stringify({
    type: 'bench',
    host: report.host,
    sections: report.sections,
    targets: { met: targets.filter((f) => f.target!.pass).map((f) => f.id), missed: targets.filter((f) => !f.target!.pass).map((f) => f.id) },
  });
}

/** Figures of pmtu-watch itself (not of a peer) that could not be measured: the bench then fails. */
export function unmeasured(report: BenchReport): Figure[] {
  return report.sections.flatMap((s) => s.figures.filter((f) => f.value === null && !f.peer));
}
