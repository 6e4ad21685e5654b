// A hand-written SVG bar chart: per scenario, each server's headline figure relative to
// Node's `net` (1.0), on a log scale, oriented so that longer bars are better.
import { KINDS } from './servers.mjs'

const COLORS = { netpoll: '#2f6fde', 'netpoll-threaded': '#8e44ad', ceiling: '#7f8c8d', go: '#16a085', 'net-cork': '#e67e22' }
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** The chart of `results` (from runSuite) as an SVG document; `caption` lines go under the title. */
export function chart(results, caption) {
  const rows = []
  for (const r of results) {
    const m = r.scenario.metrics[0]
    const base = r.medians.net?.[m.key]
    if (!base) continue
    const bars = r.servers
      .filter((k) => k !== 'net')
      .map((k) => {
        const v = r.medians[k]?.[m.key]
        return { kind: k, x: v ? (m.better === 'higher' ? v / base : base / v) : undefined }
      })
      .filter((b) => b.x > 0)
    rows.push({ label: r.scenario.id, metric: `${m.label}${m.better === 'lower' ? ', inverted (net ÷ x)' : ''}`, bars })
  }
  const kinds = [...new Set(rows.flatMap((r) => r.bars.map((b) => b.kind)))]
  const all = rows.flatMap((r) => r.bars.map((b) => b.x))
  const lo = Math.min(0.25, ...all.map((x) => 2 ** Math.floor(Math.log2(x))))
  const hi = Math.max(4, ...all.map((x) => 2 ** Math.ceil(Math.log2(x))))
  const left = 250
  const width = 900
  const plot = width - left - 60
  const barH = 12
  const rowH = kinds.length * barH + 14
  const top = 30 + 16 * caption.length + 16
  const height = top + rows.length * rowH + 50
  const xOf = (x) => left + ((Math.log2(x) - Math.log2(lo)) / (Math.log2(hi) - Math.log2(lo))) * plot
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">netpoll for Node.js and Go's netpoll relative to Node's net (= 1×): longer is better, log scale</text>`,
    ...caption.map((line, i) => `<text x="10" y="${42 + 16 * i}" fill="#555">${esc(line)}</text>`),
  ]
  for (let g = lo; g <= hi; g *= 2) {
    const x = xOf(g).toFixed(1)
    out.push(`<line x1="${x}" y1="${top - 8}" x2="${x}" y2="${height - 40}" stroke="${g === 1 ? '#000' : '#ddd'}"/>`)
    out.push(`<text x="${x}" y="${height - 26}" text-anchor="middle" fill="#555">${g}×</text>`)
  }
  rows.forEach((r, i) => {
    const y0 = top + i * rowH
    out.push(`<text x="${left - 8}" y="${y0 + rowH / 2 - 4}" text-anchor="end">${esc(r.label)}</text>`)
    out.push(`<text x="${left - 8}" y="${y0 + rowH / 2 + 9}" text-anchor="end" font-size="10" fill="#666">${esc(r.metric)}</text>`)
    r.bars.forEach((b) => {
      const y = y0 + kinds.indexOf(b.kind) * barH
      const x1 = xOf(Math.min(1, b.x))
      const x2 = xOf(Math.max(1, b.x))
      out.push(`<rect x="${x1.toFixed(1)}" y="${y}" width="${Math.max(1, x2 - x1).toFixed(1)}" height="${barH - 2}" fill="${COLORS[b.kind]}"><title>${esc(`${KINDS[b.kind].label}: ${b.x.toFixed(2)}×`)}</title></rect>`)
      out.push(`<text x="${(x2 + 4).toFixed(1)}" y="${y + barH / 2}" dominant-baseline="middle" font-size="10" fill="#333">${b.x.toFixed(2)}</text>`)
    })
  })
  kinds.forEach((k, i) => {
    const x = left + i * 120
    out.push(`<rect x="${x}" y="${height - 16}" width="12" height="10" fill="${COLORS[k]}"/><text x="${x + 16}" y="${height - 7}">${esc(KINDS[k].label)}</text>`)
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
