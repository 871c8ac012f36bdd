"""``mr-rnn report RUN_DIR``: one self-contained HTML page about a run.

    summary         model, task, iterations, loss first -> last, best, time
    loss curves     train and validation: a PNG (base64, inline) drawn by
                    driver/plot.py with matplotlib when it is installed, else an
                    inline SVG drawn here
    configuration   everything in config.json, flattened: config.*, inputs, runner
    timings         every metrics row: losses, |g|, lr, seconds, records
    samples         language models on text: a few generated texts

Nothing is fetched from elsewhere, so the page can be mailed or archived as
one file; every string from the run directory is HTML-escaped. Reading a run
never changes it: the report may be written while the run still trains.
"""
import base64
import datetime
import glob
import html
import json
import math
import os

from mr_rnn.codec.checkpoint import CheckpointError, write_atomic
from mr_rnn.driver.plot import HEIGHT, TRAIN_COLOUR, VAL_COLOUR, WIDTH, loss_png, loss_series
from mr_rnn.driver.run_dir import RunDir
from mr_rnn.driver.progress import format_duration
from mr_rnn.errors import MrRnnError


class ReportError(MrRnnError):
    """No report can be made; the message says why and what to do."""


def write_report(run_dir, output=None, samples=3):
    """Write the page (atomically) and return its path."""
    run = RunDir(run_dir)
    if not os.path.exists(run.config_path):
        raise ReportError(f'{run_dir} holds no run (no config.json): name a directory that '
                          'mr-rnn train --out wrote')
    description = run.description()
    # rows as the driver writes them; anything else in the file is left out
    rows = [r for r in run.metrics() if isinstance(r, dict) and type(r.get('iteration')) is int]
    if not rows:
        raise ReportError(f'{run_dir} has no metrics yet: report once an iteration has finished')
    model = _latest_model(run)
    page = render(run_dir, description, rows, model, _samples(model, samples))
    output = output or os.path.join(run_dir, 'report.html')
    write_atomic(output, page.encode('utf-8'))
    return output


def _latest_model(run):
    """The run's model (``RunDir.model_files``), else the newest checkpoint
    that loads; None if none."""
    from mr_rnn.model import Model
    candidates = run.model_files()
    candidates += sorted(glob.glob(os.path.join(run.checkpoints, 'iter-*.npz')), reverse=True)
    for path in candidates:
        if os.path.exists(path):
            try:
                return Model.load(path)
            except CheckpointError:
                continue
    return None


def _samples(model, count, length=240):
    if model is None or not count or model.schema.task != 'lm' or model.schema.vocab is None:
        return []
    from mr_rnn.inference.generate import sample_text
    return [sample_text(model, '', length, temperature=0.8, seed=seed) for seed in range(count)]


# ── the page ──

def render(run_dir, description, rows, model, samples):
    esc = html.escape
    config = description.get('config', {})
    plot = loss_png_img(rows) or loss_svg(rows)
    parts = [f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
             f'<title>mr-rnn report: {esc(os.path.basename(os.path.abspath(run_dir)))}</title>'
             f'<style>{CSS}</style></head><body>',
             f'<h1>mr-rnn run <code>{esc(os.path.abspath(run_dir))}</code></h1>',
             summary(config, rows, model),
             '<h2>Loss</h2>', f'<figure>{plot}</figure>']
    if samples:
        parts += ['<h2>Samples</h2><section id="samples">',
                  *(f'<pre class="sample">{esc(s)}</pre>' for s in samples),
                  '<p class="note">Drawn from the best checkpoint at temperature 0.8, '
                  'seeds 0, 1, 2, …</p></section>']
    parts += ['<h2>Configuration</h2>', config_table(description),
              '<h2>Iterations</h2>', timings_table(rows),
              f'<footer>Written by <code>mr-rnn report</code> on '
              f'{datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}.</footer></body></html>\n']
    return '\n'.join(parts)


def summary(config, rows, model):
    esc = html.escape
    m = config.get('model', {})
    key = 'val_loss' if any(r.get('val_loss') is not None for r in rows) else 'train_loss'
    scored = [r for r in rows if _finite(r.get(key))]
    best = min(scored, key=lambda r: r[key]) if scored else None
    total = sum(_seconds(r) for r in rows)
    items = [('model', f'{m.get("cell", "?")} × {m.get("layers", "?")} layer(s), hidden '
                       f'{m.get("hidden", "?")}, {m.get("dtype", "?")}'),
             ('task', f'{model.schema.task} on {model.schema.format}' if model else '?'),
             ('iterations', f'{rows[-1]["iteration"]} of {config.get("max_iter", "?")}'),
             ('training loss', f'{_num(rows[0].get("train_loss"))} → '
                               f'{_num(rows[-1].get("train_loss"))}')]
    if best is not None:
        items.append((f'best {key.replace("_", " ")}',
                      f'{_num(best[key])} at iteration {best["iteration"]}'))
    items.append(('time', f'{format_duration(total)} in {len(rows)} rounds'))
    cells = ''.join(f'<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in items)
    return f'<table id="summary">{cells}</table>'


def config_table(description):
    esc = html.escape
    flat = dict(_flatten('config', description.get('config', {})))
    flat['inputs'] = ' '.join(description.get('inputs', []))
    flat['val'] = ' '.join(description.get('val', [])) or '—'
    flat['runner options'] = ' '.join(description.get('runner_args', [])) or '(inline)'
    cells = ''.join(f'<tr><th>{esc(k)}</th><td><code>{esc(_show(v))}</code></td></tr>'
                    for k, v in flat.items())
    return f'<table id="config">{cells}</table>'


def timings_table(rows):
    esc = html.escape
    longest = max((_seconds(r) for r in rows), default=0) or 1
    head = ''.join(f'<th>{h}</th>' for h in ('iteration', 'train loss', 'val loss', '|g|',
                                              'lr', 'seconds', 'records', 'bad'))
    body = []
    for r in rows:
        seconds = _seconds(r)
        bar = f'<span class="bar" style="width:{100 * seconds / longest:.0f}px"></span>'
        cells = [esc(str(c)) for c in (
            r['iteration'], _num(r.get('train_loss')), _num(r.get('val_loss')),
            _num(r.get('grad_norm'), 3), _num(r.get('lr'), 3), f'{seconds:.2f}',
            r.get('records'), r.get('bad_records'))]
        cells[5] = f'{bar} {cells[5]}'
        body.append('<tr>' + ''.join(f'<td>{c}</td>' for c in cells) + '</tr>')
    return (f'<table id="timings"><thead><tr>{head}</tr></thead><tbody>'
            f'{"".join(body)}</tbody></table>')


def _flatten(prefix, value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(f'{prefix}.{k}', v)
    else:
        yield prefix, value


def _show(value):
    return json.dumps(value) if not isinstance(value, str) else value


def _finite(v):
    return isinstance(v, (int, float)) and math.isfinite(v)


def _seconds(row):
    return row['seconds'] if _finite(row.get('seconds')) else 0


def _num(v, digits=5):
    return f'{v:.{digits}g}' if _finite(v) else '—'


# ── the loss curves ──

def loss_png_img(rows):
    """An <img> with the curves as an inline PNG, or None without matplotlib."""
    png = loss_png(rows)
    if png is None:
        return None
    data = base64.b64encode(png).decode('ascii')
    return (f'<img id="loss-plot" alt="training and validation loss per iteration" '
            f'width="{WIDTH}" height="{HEIGHT}" src="data:image/png;base64,{data}">')


def loss_svg(rows, width=WIDTH, height=HEIGHT):
    """The same curves as an inline SVG: axes, ticks, a line per series, a legend."""
    train, val = loss_series(rows)
    left, right, top, bottom = 64, 16, 16, 48
    xs = [x for x, _ in train + val] or [0]
    ys = [y for _, y in train + val] or [0]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    pad = (max(ys) - min(ys)) * 0.05 or abs(max(ys)) * 0.05 or 1
    y0, y1 = min(ys) - pad, max(ys) + pad

    def px(x):
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def py(y):
        return top + (y1 - y) / (y1 - y0) * (height - top - bottom)

    out = [f'<svg id="loss-plot" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="training and validation loss per iteration" font-size="12" '
           f'font-family="sans-serif">',
           f'<rect x="{left}" y="{top}" width="{width - left - right}" '
           f'height="{height - top - bottom}" fill="white" stroke="#444"/>']
    for t in nice_ticks(y0, y1):
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{py(t):.1f}" y2="{py(t):.1f}" '
                   f'stroke="#ddd"/><text x="{left - 6}" y="{py(t) + 4:.1f}" '
                   f'text-anchor="end">{t:.4g}</text>')
    for t in nice_ticks(x0, x1, integer=True):
        out.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{height - bottom}" '
                   f'y2="{height - bottom + 5}" stroke="#444"/><text x="{px(t):.1f}" '
                   f'y="{height - bottom + 18}" text-anchor="middle">{t:g}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 8}" '
               f'text-anchor="middle">iteration (MapReduce round)</text>'
               f'<text transform="translate(16 {(top + height - bottom) / 2}) rotate(-90)" '
               f'text-anchor="middle">loss</text>')
    for name, series, colour, dy in (('train', train, TRAIN_COLOUR, 0),
                                     ('validation', val, VAL_COLOUR, 18)):
        if not series:
            continue
        points = ' '.join(f'{px(x):.1f},{py(y):.1f}' for x, y in series)
        out.append(f'<polyline class="{name}" points="{points}" fill="none" '
                   f'stroke="{colour}" stroke-width="2.5"/>')
        lx, ly = width - right - 120, top + 18 + dy
        out.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{ly - 4}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="2.5"/><text x="{lx + 30}" y="{ly}">'
                   f'{name}</text>')
    out.append('</svg>')
    return ''.join(out)


def nice_ticks(lo, hi, count=5, integer=False):
    """Round numbers (1, 2, 2.5, 5 × 10^k apart) covering [lo, hi]."""
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee; }
#timings td { text-align: right; font-variant-numeric: tabular-nums; }
.bar { display: inline-block; height: 0.7em; background: #1f77b4; vertical-align: middle; }
pre.sample { background: #f6f6f6; padding: 0.6em; white-space: pre-wrap; }
.note, footer { color: #777; font-size: 0.85em; }
figure { margin: 0; }
"""
