"""The soak CSV as a small SVG: one panel per curve that should stay flat
(RSS, open files, store size, p99 ack latency), minutes on the x axis.
Hand-made SVG, so the plot needs nothing beyond Python.

Usage: python3 plot.py CSV SVG
"""

import csv
import sys

PANELS = [
    ("rss_kib", "RSS (MiB)", 1 / 1024),
    ("open_files", "open files", 1),
    ("store_bytes", "store on disk (MiB)", 1 / (1024 * 1024)),
    ("ack_p99_ms", "p99 ack latency (ms)", 1),
]
W, H, PAD_L, PAD_B, PAD_T = 420, 200, 60, 30, 28


def panel(rows, column, title, scale, x0, y0):
    points = [(int(r["minute"]), float(r[column]) * scale) for r in rows if r[column] != ""]
    out = [f'<g transform="translate({x0},{y0})">',
           f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13">{title}</text>']
    if not points:
        return out + ['<text x="60" y="100">no data</text>', "</g>"]
    max_x = max(p[0] for p in points)
    max_y = max(p[1] for p in points) * 1.1 or 1
    plot_w, plot_h = W - PAD_L - 30, H - PAD_B - PAD_T
    sx = lambda x: PAD_L + plot_w * (x / max(max_x, 1))  # noqa: E731
    sy = lambda y: PAD_T + plot_h * (1 - y / max_y)  # noqa: E731
    out.append(f'<line x1="{PAD_L}" y1="{PAD_T + plot_h}" x2="{PAD_L + plot_w}" '
               f'y2="{PAD_T + plot_h}" stroke="#000"/>')
    out.append(f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{PAD_T + plot_h}" stroke="#000"/>')
    for fraction in (0, 0.5, 1):
        y = max_y * fraction
        out.append(f'<text x="{PAD_L - 4}" y="{sy(y) + 4:.1f}" text-anchor="end" '
                   f'font-size="10">{y:.1f}</text>')
    for x in (0, max_x // 2, max_x):
        out.append(f'<text x="{sx(x):.1f}" y="{PAD_T + plot_h + 14}" text-anchor="middle" '
                   f'font-size="10">{x} min</text>')
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    out.append(f'<polyline points="{path}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    return out + ["</g>"]


def main():
    source, target = sys.argv[1:3]
    with open(source) as f:
        rows = list(csv.DictReader(f))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{2 * H}" '
             f'font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>']
    for i, (column, title, scale) in enumerate(PANELS):
        parts += panel(rows, column, title, scale, (i % 2) * W, (i // 2) * H)
    parts.append("</svg>")
    with open(target, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
