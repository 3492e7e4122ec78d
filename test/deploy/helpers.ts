// What the deploy/ tests share: the files, a describe() for tests that need a
// tool (promtool, systemd-analyze) but not root, and the metric names of
// PromQL queries and of a /metrics page.

import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { describe, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

import { inCi, needCommands } from '../helpers/kernel.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEPLOY = join(ROOT, 'deploy');
export const PACKAGE_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export const run = promisify(execFile);

/** deploy/systemd/pmtu-watch.service */
export const UNIT = join(DEPLOY, 'systemd/pmtu-watch.service');

/** The unit's directives, name → values (a directive may repeat). */
export function unitDirectives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`not a directive: ${line}`);
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}


/** Every YAML document of every file in a deploy/ folder, with the file it came from. */
export function yamlDocs(dir: string): { file: string; doc: Record<string, unknown> }[] {
  const out: { file: string; doc: Record<string, unknown> }[] = [];
  for (const file of readdirSync(join(DEPLOY, dir)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const d of parseAllDocuments(readFileSync(join(DEPLOY, dir, file), 'utf8'))) {
      if (d.errors.length) throw new Error(`${dir}/${file}: ${d.errors[0]!.message}`);
      const doc = d.toJS() as Record<string, unknown> | null;
      if (doc) out.push({ file, doc });
    }
  }
  return out;
}

/**
 * describe() for tests that need commands but not root: skipped with the
 * reason outside CI when they are missing (`bash scripts/ensure-deb.sh
 * deploy` installs them), failed in CI.
 */
export function toolDescribe(name: string, commands: string[], fn: () => void): void {
  const why = needCommands(...commands)();
  if (why === undefined) describe(name, fn);
  else if (inCi()) {
    describe(name, () => {
      it('can run here (CI does not skip)', () => {
        throw new Error(`"${name}" cannot run: ${why}; bash scripts/ensure-deb.sh deploy`);
      });
    });
  } else {
    console.warn(`[deploy] skipping "${name}": ${why}; bash scripts/ensure-deb.sh deploy`);
    describe.skip(`${name} (skipped: ${why})`, fn);
  }
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'atan2', 'inf', 'nan', 'Inf', 'NaN']);

/**
 * The metric names a PromQL expression selects: what is left once strings,
 * label matchers, ranges and grouping clauses are gone, less functions,
 * aggregations (a name followed by "("), keywords, numbers and Grafana's
 * $variables.
 */
export function promqlMetricNames(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  s = s.replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = s[m.index - 1] ?? '';
    if (before === '$' || /[0-9.]/.test(before)) continue; // $node, 1e3
    if (s.slice(m.index + m[0].length).trimStart().startsWith('(')) continue;
    if (KEYWORDS.has(m[0])) continue;
    out.add(m[0]);
  }
  return [...out].sort();
}

/** The series names a Prometheus text page can have: each family's, and a histogram's or summary's own series. */
export function exportedNames(metricsText: string): Set<string> {
  const names = new Set<string>();
  for (const m of metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}

/** Prometheus makes these for every target itself; /metrics cannot export them. */
export const SCRAPE_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);

interface Panel {
  title?: string;
  type: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every PromQL expression of a Grafana dashboard: its panels' targets and its query variables. */
export function dashboardQueries(dash: { panels: Panel[]; templating?: { list: { type: string; query?: unknown }[] } }): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}"`, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
    // label_values(SELECTOR, LABEL): the selector is PromQL, the label is not.
    const lv = /^label_values\((.*),\s*\w+\)$/.exec(q);
    out.push({ where: 'a variable', expr: lv ? lv[1]! : q });
  }
  return out;
}
