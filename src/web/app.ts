/// <reference lib="dom" />
// The web page's script (served as /assets/app.js by serve and cluster):
// the feed over a websocket, the configuration from /topology, and the
// DOM. Everything from the network is put in as text (textContent, SVG
// attributes), never as markup; no inline style (the CSP forbids it).

import type { IncidentJson, TopologyJson } from '../contract/cluster.js';
import { flowText } from './addr.js';
import { mtuMap, type MapDevice, type MapNamespace } from './mtumap.js';
import { incidentPath, verdictPath, type PathMark, type TracedPath } from './path.js';
import { PageState, type TroubleRow } from './shape.js';

const SVG = 'http://www.w3.org/2000/svg';
const state = new PageState();
let topologies: TopologyJson[] = [];
let selected: { kind: 'trouble' | 'incident'; key: string } | undefined;
let connected = false;

type Child = Node | string | null | undefined | false;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) if (c) e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return e;
}

function svg(tag: string, attrs: Record<string, string | number> = {}, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

// ---------------------------------------------------------------------------
// Troubles, nodes, incidents

function renderStatus(): void {
  const nodes = state.nodeList();
  const up = nodes.filter((n) => n.state === 'up').length;
  const parts = [connected ? 'live' : 'disconnected, retrying', `${state.troubles().length} trouble(s)`];
  if (state.cluster) parts.push(`${up}/${nodes.length} node(s) up`);
  if (state.lost) parts.push(`${state.lost} message(s) lost (this page read too slowly)`);
  const conn = byId('conn');
  conn.textContent = parts.join(' · ');
  conn.className = connected ? 'ok' : 'down';
}

function renderNodes(): void {
  const section = byId('nodes-section');
  section.hidden = !state.cluster;
  const list = byId('nodes');
  list.replaceChildren(
    ...state.nodeList().map((n) =>
      el(
        'li',
        { class: `node ${n.state}`, 'data-node': n.node, 'data-state': n.state },
        el('span', { class: 'badge' }, n.state),
        ' ',
        el('strong', {}, n.node),
        ' ',
        el('span', { class: 'dim' }, n.url),
        n.state === 'down' && n.reason ? el('span', { class: 'reason' }, ` — ${n.reason}${n.retryMs !== null ? `, retry in ${Math.round(n.retryMs / 1000)} s` : ''}`) : null,
      ),
    ),
  );
}

function selectable(e: HTMLElement, kind: 'trouble' | 'incident', key: string): void {
  e.tabIndex = 0;
  e.setAttribute('role', 'button');
  e.setAttribute('aria-pressed', String(selected?.kind === kind && selected.key === key));
  const choose = () => {
    selected = { kind, key };
    render();
    byId('detail').focus();
  };
  e.addEventListener('click', choose);
  e.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      choose();
    } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      const sib = (ev.key === 'ArrowDown' ? e.nextElementSibling : e.previousElementSibling) as HTMLElement | null;
      sib?.focus();
    }
  });
}

function renderIncidents(): void {
  const incidents = state.incidents();
  byId('incidents-section').hidden = incidents.length === 0;
  byId('incidents').replaceChildren(
    ...incidents.map((inc) => {
      const li = el(
        'li',
        { class: 'incident', 'data-incident': inc.id, 'data-nodes': inc.nodes.join(' ') },
        el('span', { class: `verdict v-${inc.verdict}` }, inc.verdict),
        ' ',
        inc.cause ? el('span', { class: 'cause' }, inc.cause) : null,
        ' ',
        el('span', { class: 'summary' }, inc.summary),
        el('div', { class: 'dim' }, flowText(inc.flow), ' · nodes: ', inc.nodes.join(', ')),
      );
      selectable(li, 'incident', inc.id);
      return li;
    }),
  );
}

function renderTroubles(): void {
  const rows = state.troubles();
  byId('no-troubles').hidden = rows.length > 0;
  byId('troubles').hidden = rows.length === 0;
  const nodeCol = state.cluster;
  byId('th-node').hidden = !nodeCol;
  byId<HTMLTableSectionElement>('troubles-body').replaceChildren(
    ...rows.map((r: TroubleRow) => {
      const tr = el(
        'tr',
        { class: 'trouble', 'data-key': r.key, 'data-verdict': r.verdict, ...(r.node ? { 'data-node': r.node } : {}) },
        nodeCol ? el('td', {}, r.node ?? '') : null,
        el('td', {}, el('span', { class: `verdict v-${r.verdict}` }, r.verdict)),
        el('td', { class: 'cause' }, r.cause),
        el('td', { class: 'where' }, r.where),
        el('td', { class: 'hop' }, r.hop),
        el('td', { class: 'mtu' }, r.mtu),
        el('td', { class: 'flow' }, r.flow),
        el('td', { class: 'fix' }, r.fix),
      );
      selectable(tr, 'trouble', r.key);
      return tr;
    }),
  );
}

// ---------------------------------------------------------------------------
// The selected flow's path

const BOX_W = 190;
const GAP = 70;
const BOX_H = 120;
const TOP = 40;

function ifaceGroup(step: { node: string | null; netns: string }, name: string, mtu: number, kind: string, x: number, y: number, anchor: 'start' | 'end', marks: PathMark[]): SVGElement {
  const g = svg('g', { class: 'iface', 'data-netns': step.netns, 'data-iface': name, ...(step.node ? { 'data-node': step.node } : {}) });
  const mark = marks.find((m) => m.iface === name && m.netns === step.netns && (m.node === null || step.node === null || m.node === step.node));
  if (mark) {
    g.setAttribute('data-mark', mark.kind);
    g.classList.add(`mark-${mark.kind}`);
  }
  const w = 84;
  const rx = anchor === 'start' ? x : x - w;
  g.append(svg('rect', { x: rx, y, width: w, height: 34, rx: 4, class: 'iface-box' }));
  g.append(svg('text', { x: rx + w / 2, y: y + 14, 'text-anchor': 'middle', class: 'iface-name' }, name));
  g.append(svg('text', { x: rx + w / 2, y: y + 28, 'text-anchor': 'middle', class: 'iface-mtu' }, `${kind ? `${kind} ` : ''}MTU ${mtu}`));
  g.append(svg('title', {}, `${step.netns}/${name}: MTU ${mtu}${mark ? ` — ${mark.label}` : ''}`));
  if (mark?.kind === 'died') {
    const cx = anchor === 'start' ? rx - 2 : rx + w + 2;
    g.append(svg('circle', { cx, cy: y - 6, r: 9, class: 'died-dot' }));
    g.append(svg('text', { x: cx, y: y - 2, 'text-anchor': 'middle', class: 'died-x' }, '✕'));
  }
  return g;
}

function drawPath(p: TracedPath): SVGElement {
  const n = Math.max(p.steps.length, 1);
  const width = n * BOX_W + (n - 1) * GAP + 20;
  const height = TOP + BOX_H + 70;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'path', 'aria-label': 'the path of the selected flow' });
  root.append(svg('title', {}, 'path: ' + p.steps.map((s) => s.netns).join(' → ')));
  const maxMtu = Math.max(0, ...p.steps.flatMap((s) => [s.in?.mtu ?? 0, s.out?.mtu ?? 0]));
  p.steps.forEach((s, i) => {
    const x = 10 + i * (BOX_W + GAP);
    const sender = p.marks.find((m) => m.kind === 'ptb-sender' && m.step === i);
    const g = svg('g', { class: `step${sender ? ' mark-ptb-sender' : ''}`, 'data-netns': s.netns, 'data-step': i, ...(s.node ? { 'data-node': s.node } : {}), ...(sender ? { 'data-mark': 'ptb-sender' } : {}) });
    g.append(svg('rect', { x, y: TOP, width: BOX_W, height: BOX_H, rx: 8, class: 'ns-box' }));
    g.append(svg('text', { x: x + BOX_W / 2, y: TOP + 18, 'text-anchor': 'middle', class: 'ns-name' }, short(s.netns, 26)));
    if (s.node) g.append(svg('text', { x: x + BOX_W / 2, y: TOP + 34, 'text-anchor': 'middle', class: 'node-name' }, `node ${short(s.node, 22)}`));
    if (s.holds.length) g.append(svg('text', { x: x + BOX_W / 2, y: TOP + BOX_H - 8, 'text-anchor': 'middle', class: 'holds' }, s.holds.includes('src') ? 'source' : 'destination'));
    g.append(svg('title', {}, `${s.node ? `node ${s.node}, ` : ''}namespace ${s.netns}`));
    if (s.in) g.append(ifaceGroup(s, s.in.name, s.in.mtu, s.in.kind === 'veth' ? '' : s.in.kind, x + 4, TOP + 50, 'start', p.marks));
    if (s.out) g.append(ifaceGroup(s, s.out.name, s.out.mtu, s.out.kind === 'veth' ? '' : s.out.kind, x + BOX_W - 4, TOP + 50, 'end', p.marks));
    if (s.bridge) g.append(svg('text', { x: x + BOX_W / 2, y: TOP + 100, 'text-anchor': 'middle', class: 'bridge' }, `bridge ${s.bridge.name} ${s.bridge.mtu}, port ${s.bridge.port.name} ${s.bridge.port.mtu}`));
    if (sender) {
      g.append(svg('text', { x: x + BOX_W / 2, y: TOP - 10, 'text-anchor': 'middle', class: 'sender-label' }, short(sender.label, 34)));
    }
    root.append(g);
    const next = p.steps[i + 1];
    if (next && s.out) {
      const mtu = Math.min(s.out.mtu, next.in?.mtu ?? s.out.mtu);
      const lx1 = x + BOX_W;
      const lx2 = x + BOX_W + GAP;
      const narrow = mtu < maxMtu;
      root.append(svg('line', { x1: lx1, y1: TOP + 67, x2: lx2, y2: TOP + 67, class: `wire${narrow ? ' narrow' : ''}` }));
      root.append(svg('text', { x: (lx1 + lx2) / 2, y: TOP + 60, 'text-anchor': 'middle', class: `wire-mtu${narrow ? ' narrow' : ''}` }, String(mtu)));
    }
  });
  const died = p.marks.filter((m) => m.kind === 'died');
  died.forEach((m, j) => {
    root.append(svg('text', { x: 10, y: TOP + BOX_H + 24 + j * 18, class: 'died-label' }, `✕ ${short(`${m.node ? `${m.node}: ` : ''}${m.netns}/${m.iface}`, 60)} — ${short(m.label, 90)}`));
  });
  return root;
}

function short(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function renderDetail(): void {
  const text = byId('detail-text');
  const pathBox = byId('path');
  byId('detail-hint').hidden = selected !== undefined;
  if (!selected) {
    text.replaceChildren();
    pathBox.replaceChildren();
    return;
  }
  let traced: TracedPath;
  let lines: Child[];
  if (selected.kind === 'trouble') {
    const r = state.row(selected.key);
    if (!r) return;
    traced = verdictPath(topologies, r.v);
    lines = [
      el('p', {}, el('span', { class: `verdict v-${r.verdict}` }, r.verdict), r.cause ? ` (${r.cause})` : '', ` ${r.flow}`, r.node ? ` on node ${r.node}` : ''),
      el('p', {}, `where: ${r.where || 'unknown'}`, r.hop ? ` · hop ${r.hop}` : '', r.mtu ? ` · MTU ${r.mtu}` : ''),
      r.fix ? el('p', { class: 'fix' }, `fix: ${r.fix}`) : null,
      r.v.notes.length ? el('ul', { class: 'notes' }, ...r.v.notes.map((n) => el('li', {}, n))) : null,
    ];
  } else {
    const inc: IncidentJson | undefined = state.incident(selected.key);
    if (!inc) return;
    traced = incidentPath(topologies, inc);
    lines = [
      el('p', {}, el('span', { class: `verdict v-${inc.verdict}` }, inc.verdict), inc.cause ? ` (${inc.cause})` : '', ` ${flowText(inc.flow)}`),
      el('p', {}, inc.summary),
      el('ul', { class: 'parts' }, ...inc.parts.map((p) => el('li', { 'data-node': p.node, 'data-role': p.role }, `${p.node}: ${p.what}`))),
      inc.fix ? el('p', { class: 'fix' }, `fix: ${inc.fix}`) : null,
    ];
  }
  if (traced.gap) lines.push(el('p', { class: 'gap' }, `the path stops: ${traced.gap}`));
  for (const m of traced.marks.filter((x) => x.step < 0)) lines.push(el('p', { class: 'off-path' }, `off the traced path: ${m.label} (${m.netns ? `${m.netns}/` : ''}${m.iface})`));
  text.replaceChildren(...lines.filter((x): x is Node => x instanceof Node));
  pathBox.replaceChildren(traced.steps.length ? drawPath(traced) : el('p', { class: 'dim' }, topologies.length ? 'no path could be traced through the configuration read' : 'no configuration to trace the path through (/topology is empty)'));
}

// ---------------------------------------------------------------------------
// The MTU map

function deviceLine(d: MapDevice): HTMLElement {
  const flagged = d.findings.some((f) => f.severity !== 'info');
  const li = el(
    'li',
    { class: `dev${flagged ? ' mismatch' : ''}${d.up ? '' : ' down'}`, 'data-iface': d.name, ...(flagged ? { 'data-mismatch': d.findings.map((f) => f.rule).join(' ') } : {}) },
    el('span', { class: 'dev-name' }, d.name),
    ' ',
    el('span', { class: 'dim' }, d.kind),
    ' ',
    el('span', { class: 'dev-mtu' }, String(d.mtu)),
    d.peer ? el('span', { class: 'peer' }, ` ⇄ ${d.peer.netns}/${d.peer.iface} ${d.peer.mtu ?? '?'}`) : null,
    d.tunnel ? el('span', { class: 'tunnel' }, ` over ${d.tunnel.lower ?? (d.tunnel.remote ? `the route to ${d.tunnel.remote}` : 'the default route')}${d.tunnel.lowerMtu !== null ? ` ${d.tunnel.lowerMtu}` : ''}${d.tunnel.overhead !== null ? ` (+${d.tunnel.overhead} bytes)` : ''}`) : null,
    d.addresses.length ? el('span', { class: 'dim' }, ` ${d.addresses.join(' ')}`) : null,
  );
  for (const f of d.findings) li.append(el('div', { class: `finding sev-${f.severity}` }, `${f.rule}: ${f.summary}`));
  return li;
}

function renderMap(): void {
  const box = byId('mtumap');
  if (!topologies.length) {
    box.replaceChildren(el('p', { class: 'dim' }, 'no configuration read (a replay, or /topology not available)'));
    return;
  }
  const problems = topologies.flatMap((t) => t.problems.map((p) => `${t.node ? `${t.node}: ` : ''}${p}`));
  box.replaceChildren(
    ...mtuMap(topologies).map((m: MapNamespace) =>
      el(
        'article',
        { class: `ns${m.flagged ? ' flagged' : ''}`, 'data-netns': m.netns, ...(m.node ? { 'data-node': m.node } : {}) },
        el('h3', {}, m.node ? `${m.node} · ` : '', m.netns),
        ...m.bridges.map((b) => el('div', { class: 'bridge-box' }, el('ul', {}, deviceLine(b)), el('ul', { class: 'ports' }, ...b.ports.map(deviceLine)))),
        m.veths.length ? el('ul', { class: 'veths' }, ...m.veths.map(deviceLine)) : null,
        m.tunnels.length ? el('ul', { class: 'tunnels' }, ...m.tunnels.map(deviceLine)) : null,
        m.others.length ? el('ul', { class: 'others' }, ...m.others.map(deviceLine)) : null,
        ...m.loose.map((f) => el('div', { class: `finding sev-${f.severity}` }, `${f.rule} (${f.device}): ${f.summary}`)),
      ),
    ),
    ...(problems.length ? [el('ul', { class: 'problems dim' }, ...problems.map((p) => el('li', {}, p)))] : []),
  );
}

// ---------------------------------------------------------------------------

let pending = false;
function render(): void {
  renderStatus();
  renderNodes();
  renderIncidents();
  renderTroubles();
  renderDetail();
}

function soon(): void {
  if (pending) return;
  pending = true;
  setTimeout(() => {
    pending = false;
    // Keep focus where the user had it across a redraw of the lists.
    const active = document.activeElement as HTMLElement | null;
    const key = active?.getAttribute('data-key') ?? active?.getAttribute('data-incident');
    render();
    if (key) (document.querySelector(`[data-key="${CSS.escape(key)}"], [data-incident="${CSS.escape(key)}"]`) as HTMLElement | null)?.focus();
  }, 100);
}

async function loadTopology(): Promise<void> {
  try {
    const res = await fetch('/topology', { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) return;
    const t = (await res.json()) as unknown;
    if (Array.isArray(t)) {
      topologies = t as TopologyJson[];
      renderMap();
      renderDetail();
    }
  } catch {
    // The next poll tries again; the status line says whether the feed is there.
  }
}

let backoff = 500;
function connect(): void {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/feed`);
  ws.addEventListener('open', () => {
    connected = true;
    backoff = 500;
    soon();
  });
  ws.addEventListener('message', (ev) => {
    if (typeof ev.data !== 'string') return;
    let msg: unknown;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as { type?: unknown; kind?: unknown };
    if (m.type === 'event' && m.kind === 'link') linkChanged();
    if (state.apply(msg as Parameters<PageState['apply']>[0])) soon();
  });
  ws.addEventListener('close', () => {
    connected = false;
    soon();
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10_000);
  });
}

let linkTimer: ReturnType<typeof setTimeout> | undefined;
function linkChanged(): void {
  clearTimeout(linkTimer);
  linkTimer = setTimeout(() => void loadTopology(), 1000);
}

render();
renderMap();
connect();
void loadTopology();
setInterval(() => void loadTopology(), 15_000);
