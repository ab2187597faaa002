#!/usr/bin/env python3
"""Learning curves as SVG from trials' own progress.csv (no plotting library needed).

Usage: python3 experiments/curves/plot.py OUT.svg TITLE TRIAL_DIR [TRIAL_DIR ...]
Plots episode_reward_mean against timesteps_total, one line per trial (label: the trial's
run and env from params.json).
"""
import csv, json, math, os, sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

def load(trial):
    xs, ys = [], []
    with open(os.path.join(trial, "progress.csv")) as f:
        for row in csv.DictReader(f):
            x, y = row.get("timesteps_total"), row.get("episode_reward_mean")
            try:
                x, y = float(x), float(y)
            except (TypeError, ValueError):
                continue
            if math.isfinite(x) and math.isfinite(y):
                xs.append(x); ys.append(y)
    p = json.load(open(os.path.join(trial, "params.json")))
    return f"{p.get('run', '?')} {p.get('env', '?')}", xs, ys

def main():
    out, title, trials = sys.argv[1], sys.argv[2], sys.argv[3:]
    series = [load(t) for t in trials]
    allx = [x for _, xs, _ in series for x in xs] or [0, 1]
    ally = [y for _, _, ys in series for y in ys] or [0, 1]
    x0, x1 = 0, max(allx)
    y0, y1 = min(ally), max(ally)
    if y1 == y0:
        y1 = y0 + 1
    W, H, L, R, T, B = 640, 400, 70, 40, 40, 50
    sx = lambda x: L + (x - x0) / (x1 - x0 or 1) * (W - L - R)
    sy = lambda y: H - B - (y - y0) / (y1 - y0) * (H - T - B)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
             f'<rect width="{W}" height="{H}" fill="white"/>',
             f'<text x="{W/2}" y="22" text-anchor="middle" font-size="15">{title}</text>',
             f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="black"/>',
             f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="black"/>',
             f'<text x="{(L+W-R)/2}" y="{H-12}" text-anchor="middle">env steps (timesteps_total)</text>',
             f'<text x="16" y="{(T+H-B)/2}" text-anchor="middle" transform="rotate(-90 16 {(T+H-B)/2})">episode_reward_mean</text>']
    for i in range(5):
        xv = x0 + (x1 - x0) * i / 4; yv = y0 + (y1 - y0) * i / 4
        parts.append(f'<text x="{sx(xv)}" y="{H-B+16}" text-anchor="middle">{xv:,.0f}</text>')
        parts.append(f'<text x="{L-6}" y="{sy(yv)+4}" text-anchor="end">{yv:.0f}</text>')
        parts.append(f'<line x1="{L}" y1="{sy(yv)}" x2="{W-R}" y2="{sy(yv)}" stroke="#ddd"/>')
    for k, (label, xs, ys) in enumerate(series):
        c = COLORS[k % len(COLORS)]
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys))
        parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{pts}"/>')
        parts.append(f'<text x="{L+10}" y="{T+14+16*k}" fill="{c}">{label}</text>')
    parts.append("</svg>")
    open(out, "w").write("\n".join(parts))
    print(f"wrote {out} ({len(series)} curves)")

if __name__ == "__main__":
    main()
