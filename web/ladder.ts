// The frame ladder of one session as a sequence diagram (SVG), drawn live from the frames the
// server streams (/api/sessions/ID/frames, see src/serve/live.ts).
//
// Theory of operation
//   Two lifelines, the client on the left and the server on the right; each frame is one arrow
//   between them, one row per frame, in arrival order, labelled "#n TYPE" (the session frame's
//   number in its direction) then its serial, tokens and other fields; the time on the left is
//   relative to the session's start (its CONNECT). Drawn as such: CONNECT and ACCEPT recorded
//   at the open (lighter), an interruption (a red dashed break across both lifelines), the RESUME
//   (bold) and the frames sent again after it (dashed, "replayed"). The diagram is redrawn whole
//   at most every 16 ms, at the width of its box, so it never overflows: labels that
//   do not fit are cut, and the whole line is the arrow's tooltip. At most `max` rows are kept.

export type { LadderFrame } from '../src/serve/live.js';
import type { LadderFrame } from '../src/serve/live.js';

const NS = 'http://www.w3.org/2000/svg';
const ROW = 24;
const HEAD = 28;
const TIME_W = 62;
/** Average width of a label character at 11 px (monospace), to cut labels to the arrow's length. */
const CHAR_W = 6.7;

function el<K extends keyof SVGElementTagNameMap>(
  name: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** "#n TYPE" then serial and tokens first, then the other fields. */
export function label(f: LadderFrame): string {
  const parts = f.detail.split(' ').filter(Boolean);
  const first = parts.filter((p) => p.startsWith('serial=') || p.startsWith('tokens='));
  const rest = parts.filter((p) => !first.includes(p));
  return [f.replayed ? 'replayed' : '', f.n === undefined ? '' : `#${f.n}`, f.type, ...first, ...rest]
    .filter(Boolean)
    .join(' ');
}

const seconds = (ms: number): string => `+${(ms / 1000).toFixed(3)}s`;

export class Ladder {
  private frames: LadderFrame[] = [];
  private pending = false;

  constructor(
    private readonly box: HTMLElement,
    private readonly max: number,
  ) {
    addEventListener('resize', () => this.schedule());
    this.schedule();
  }

  reset(): void {
    this.frames = [];
    this.schedule();
  }

  add(frame: LadderFrame): void {
    this.frames.push(frame);
    if (this.frames.length > this.max) this.frames.splice(0, this.frames.length - this.max);
    this.schedule();
  }

  /** A line of text across the diagram (the session ended, cannot watch). */
  note(text: string): void {
    this.add({ at: Date.now(), direction: 'event', type: 'NOTE', detail: text });
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    // A timer, not requestAnimationFrame: a tab in the background still draws (at a slower pace).
    setTimeout(() => {
      this.pending = false;
      this.draw();
    }, 16);
  }

  private draw(): void {
    const box = this.box;
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    const width = Math.max(260, box.clientWidth);
    const client = TIME_W + 18;
    const server = width - 18;
    const height = HEAD + Math.max(1, this.frames.length) * ROW + 8;
    const svg = el('svg', {
      id: 'ladder-svg',
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label': 'frames between the client and the server',
    });
    svg.dataset.frames = String(this.frames.filter((f) => f.direction !== 'event').length);
    const defs = el('defs', {});
    for (const [id, cls] of [
      ['head-in', 'in'],
      ['head-out', 'out'],
    ] as const) {
      const marker = el('marker', {
        id,
        viewBox: '0 0 10 10',
        refX: 9,
        refY: 5,
        markerWidth: 7,
        markerHeight: 7,
        orient: 'auto-start-reverse',
      });
      marker.append(el('path', { d: 'M0,0 L10,5 L0,10 z', class: `head ${cls}` }));
      defs.append(marker);
    }
    svg.append(defs);
    svg.append(el('text', { x: client, y: 16, class: 'side', 'text-anchor': 'middle' }, 'client'));
    svg.append(el('text', { x: width - 4, y: 16, class: 'side', 'text-anchor': 'end' }, 'server'));
    for (const [side, x] of [
      ['client', client],
      ['server', server],
    ] as const) {
      const line = el('line', { x1: x, y1: HEAD - 6, x2: x, y2: height, class: 'lifeline' });
      line.dataset.side = side;
      svg.append(line);
    }
    const t0 = this.frames[0]?.at ?? 0;
    const fit = Math.max(8, Math.floor((server - client - 16) / CHAR_W));
    this.frames.forEach((f, i) => {
      const y = HEAD + i * ROW + ROW - 6;
      const g = el('g', { class: f.direction === 'event' ? 'event' : 'frame' });
      g.dataset.type = f.type;
      g.dataset.direction = f.direction;
      if (f.n !== undefined) g.dataset.n = String(f.n);
      if (f.replayed) g.dataset.replayed = 'true';
      if (f.recorded) g.dataset.recorded = 'true';
      if (f.type === 'RESUME' || f.type === 'RESUMED') g.classList.add('resume');
      const text =
        f.direction === 'event' ? (f.type === 'INTERRUPTED' ? `transport lost: ${f.detail}` : f.detail) : label(f);
      g.append(el('title', {}, `${seconds(f.at - t0)}  ${text}`));
      g.append(el('text', { x: 4, y, class: 'time' }, seconds(f.at - t0)));
      if (f.direction === 'event') {
        g.append(el('line', { x1: client - 10, y1: y - 4, x2: server + 10, y2: y - 4, class: 'break' }));
        g.append(
          el(
            'text',
            { x: (client + server) / 2, y: y - 8, class: 'label', 'text-anchor': 'middle' },
            text.length > fit ? `${text.slice(0, fit - 1)}…` : text,
          ),
        );
      } else {
        const [x1, x2] = f.direction === 'in' ? [client, server] : [server, client];
        g.append(
          el('line', {
            x1,
            y1: y,
            x2,
            y2: y,
            class: `arrow ${f.direction}${f.replayed ? ' replayed' : ''}`,
            'marker-end': `url(#head-${f.direction})`,
          }),
        );
        g.append(
          el(
            'text',
            { x: (client + server) / 2, y: y - 5, class: 'label', 'text-anchor': 'middle' },
            text.length > fit ? `${text.slice(0, fit - 1)}…` : text,
          ),
        );
      }
      svg.append(g);
    });
    box.replaceChildren(svg);
    if (atBottom) box.scrollTop = box.scrollHeight;
  }
}
