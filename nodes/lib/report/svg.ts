/** A chart as inline SVG: no scripts, no external references, opens offline. */
import type { ChartGeometry } from './chart';

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const n = (v: number) => (Math.round(v * 10) / 10).toString();
const pts = (p: Array<[number, number]>) => p.map(([x, y]) => `${n(x)},${n(y)}`).join(' ');

export function chartSvg(g: ChartGeometry, title: string): string {
  const { plot } = g;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${g.width} ${g.height}" width="${g.width}" height="${g.height}" role="img" aria-label="${escapeXml(title)}" class="chart">`);
  out.push(`<rect x="${n(plot.x)}" y="${n(plot.y)}" width="${n(plot.w)}" height="${n(plot.h)}" fill="#fafbfc" stroke="#c8ccd0"/>`);
  for (const t of g.yTicks) {
    out.push(`<line x1="${n(plot.x)}" x2="${n(plot.x + plot.w)}" y1="${n(t.y)}" y2="${n(t.y)}" stroke="#e3e6e8"/>`);
    out.push(`<text x="${n(plot.x - 6)}" y="${n(t.y + 4)}" text-anchor="end" font-size="10" fill="#555">${escapeXml(t.label)}</text>`);
  }
  for (const t of g.xTicks) {
    out.push(`<text x="${n(t.x)}" y="${n(plot.y + plot.h + 16)}" text-anchor="middle" font-size="10" fill="#555">${escapeXml(t.label)}</text>`);
  }
  for (const b of g.bands) out.push(`<polygon points="${pts(b)}" fill="#9cc3e6" fill-opacity="0.45" stroke="none"/>`);
  for (const l of g.lines) {
    if (l.length === 1) out.push(`<circle cx="${n(l[0][0])}" cy="${n(l[0][1])}" r="2" fill="#1f5f99"/>`);
    else out.push(`<polyline points="${pts(l)}" fill="none" stroke="#1f5f99" stroke-width="1.5"/>`);
  }
  for (const t of g.thresholds) {
    const color = t.kind === 'above' ? '#c0392b' : '#d68910';
    out.push(`<line x1="${n(plot.x)}" x2="${n(plot.x + plot.w)}" y1="${n(t.y)}" y2="${n(t.y)}" stroke="${color}" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${n(plot.x + plot.w - 4)}" y="${n(t.y - 3)}" text-anchor="end" font-size="10" fill="${color}">${escapeXml(t.label)}</text>`);
  }
  out.push('</svg>');
  return out.join('');
}
