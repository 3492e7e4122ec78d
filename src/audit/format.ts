// How audit findings read on a terminal; --json prints the AuditResult itself.

import { segmentOnWire } from '../net/encap.js';
import { SEVERITIES, type AuditResult, type Finding, type RouteMss, type Severity } from './types.js';

const MAX_PROBLEMS_SHOWN = 5;

function findingText(f: Finding): string[] {
  const lines = [`${f.severity.toUpperCase().padEnd(7)} ${f.rule}  ${f.netns}/${f.device}`, `    ${f.summary}`];
  f.fix.forEach((fix, i) => lines.push(`    ${i === 0 ? 'fix:' : 'or: '} ${fix}`));
  if (f.note) lines.push(`    note: ${f.note}`);
  return lines;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd());
}

export function routesText(routes: RouteMss[]): string[] {
  if (routes.length === 0) return ['no routes through a device in scope'];
  const rows = [['NETNS', 'ROUTE', 'DEV', 'MTU', 'SYN MSS', 'CHAIN MTU', 'SMALLEST AT']];
  for (const r of routes) {
    const flag = segmentOnWire(r.mss, r.family) > r.chainMtu ? ' !' : '';
    rows.push([r.netns, r.gateway ? `${r.dst} via ${r.gateway}` : r.dst, r.device, String(r.mtu), String(r.mss), `${r.chainMtu}${flag}`, `${r.chainAt.netns}/${r.chainAt.device}`]);
  }
  return table(rows);
}

export function countBySeverity(findings: Finding[]): Record<Severity, number> {
  const counts = { info: 0, warning: 0, error: 0 };
  for (const f of findings) counts[f.severity]++;
  return counts;
}

/** The whole report: findings (most severe first), the per-route table when asked, problems, a summary line. */
export function auditText(result: AuditResult, { routes = false } = {}): string[] {
  const lines: string[] = [];
  for (const f of result.findings) lines.push(...findingText(f), '');
  if (routes) lines.push(...routesText(result.routes), '');
  const shown = result.problems.slice(0, MAX_PROBLEMS_SHOWN);
  for (const p of shown) lines.push(`note: ${p}`);
  if (result.problems.length > shown.length) lines.push(`note: and ${result.problems.length - shown.length} more (--json lists them)`);
  const counts = countBySeverity(result.findings);
  const parts = [...SEVERITIES].reverse().map((s) => `${counts[s]} ${s}${counts[s] === 1 || s === 'info' ? '' : 's'}`);
  const where = result.scope.length === 1 ? `namespace ${result.scope[0]}` : `${result.scope.length} namespaces`;
  const unread = result.problems.filter((p) => p.includes(': not read: ')).length;
  const caveat = unread ? ` (${unread} not read)` : '';
  lines.push(result.findings.length === 0 ? `no MTU misconfiguration found in ${where}${caveat}` : `${parts.join(', ')} in ${where}${caveat}`);
  return lines;
}
