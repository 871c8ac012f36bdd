"""mr-rnn report: one self-contained HTML page, checked in a real headless Chromium.

Debian's chromium (``apt-get install -y chromium``) renders the page; the test
reads the DOM the browser built, with a probe script that asks the browser what it
laid out, and takes a screenshot in which it counts the pixels of the loss curve.
Without chromium or matplotlib their tests are skipped, except in CI (conftest.in_ci),
where they fail.
"""
import json
import os
import shutil
import struct
import subprocess
import zlib

import pytest

from conftest import need_module, unavailable
from helpers import sequence_records, train, write_jsonl
from mr_rnn.driver import report
from mr_rnn.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_TEXT = os.path.join(ROOT, 'sample_data', 'text', 'austen_persuasion.txt')
TRAIN_RGB = (0x1f, 0x77, 0xb4)


@pytest.fixture(scope='module')
def lm_run(tmp_path_factory):
    """A small character language model, trained for real: the run a report describes."""
    folder = tmp_path_factory.mktemp('lm')
    text = folder / 'persuasion.txt'
    with open(SAMPLE_TEXT, encoding='utf-8') as f:
        text.write_text(''.join(f.readlines()[:30]), encoding='utf-8')
    run = folder / 'run'
    assert train(run, [str(text)], '--hidden', '12', '--seq-len', '16', '--max-iter', '4',
                 '--lr', '0.02', '--tol', '0', '--quiet') == 0
    return run


def test_report_is_one_self_contained_page(lm_run, capsys):
    assert main(['report', str(lm_run)]) == 0
    assert f'wrote {lm_run}/report.html' in capsys.readouterr().out
    page = (lm_run / 'report.html').read_text(encoding='utf-8')
    assert 'id="loss-plot"' in page
    # nothing to fetch: no scripts, stylesheets, or images from anywhere else
    for outside in ('<script', '<link', 'src="http', "src='http", 'url(', '@import'):
        assert outside not in page
    assert 'src="data:image/png;base64,' in page or '<svg id="loss-plot"' in page
    for shown in ('id="config"', 'config.model.cell', 'lstm', 'config.data.seq_len',
                  'id="timings"', 'id="samples"', 'class="sample"'):
        assert shown in page
    assert page.count('<tr><td>') == 5             # one timing row per metrics line


def test_report_draws_svg_curves_without_matplotlib(lm_run, tmp_path, monkeypatch):
    monkeypatch.setattr(report, 'loss_png_img', lambda rows: None)
    path = report.write_report(str(lm_run), str(tmp_path / 'r.html'), samples=0)
    page = open(path, encoding='utf-8').read()
    assert '<svg id="loss-plot"' in page and '<polyline class="train"' in page
    assert 'id="samples"' not in page
    metrics = [json.loads(line) for line in (lm_run / 'metrics.jsonl').read_text().splitlines()]
    points = page.split('<polyline class="train" points="')[1].split('"')[0].split()
    assert len(points) == len(metrics)
    ys = [float(p.split(',')[1]) for p in points]
    losses = [r['train_loss'] for r in metrics]
    # SVG y grows downwards: a lower loss is drawn higher up
    assert sorted(range(len(ys)), key=ys.__getitem__) == sorted(
        range(len(losses)), key=lambda i: -losses[i])


def test_report_draws_a_png_with_matplotlib(lm_run, tmp_path):
    need_module('matplotlib', "pip install -e '.[plot]'")
    path = report.write_report(str(lm_run), str(tmp_path / 'r.html'), samples=0)
    assert 'src="data:image/png;base64,iVBORw0KGgo' in open(path, encoding='utf-8').read()


def test_report_escapes_what_the_run_directory_says(tmp_path):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(20))
    run = tmp_path / 'run'
    assert train(run, [data], '--hidden', '3', '--max-iter', '1', '--quiet') == 0
    description = json.loads((run / 'config.json').read_text())
    description['inputs'] = ['<script>alert(1)</script>.jsonl']
    (run / 'config.json').write_text(json.dumps(description))
    rows = [json.loads(line) for line in (run / 'metrics.jsonl').read_text().splitlines()]
    rows[0].update(records='<img src=x onerror=alert(2)>', seconds='soon')
    rows.append({'iteration': 'not a number'})
    (run / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    page = open(report.write_report(str(run)), encoding='utf-8').read()
    assert '<script>' not in page and '&lt;script&gt;alert(1)&lt;/script&gt;' in page
    assert '<img src=x' not in page and '&lt;img src=x onerror=alert(2)&gt;' in page
    assert 'not a number' not in page
    assert 'id="samples"' not in page                # a classifier: no text samples


def test_report_of_a_directory_without_a_run_is_one_line(tmp_path, capsys):
    assert main(['report', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'no config.json' in err


# ── in a real browser ──

def chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        path = shutil.which(name)
        if path:
            return path
    unavailable('chromium is not installed (apt-get install -y chromium)')


def run_chromium(browser, tmp_path, *args):
    command = [browser, '--headless', '--no-sandbox', '--disable-gpu',
               '--disable-background-networking', '--disable-component-update', '--disable-sync',
               '--no-first-run', '--hide-scrollbars', f'--user-data-dir={tmp_path / "profile"}',
               *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


PROBE = """<script>
// what the browser laid out: written into the DOM, which --dump-dom prints, once
// the page has loaded (at once if it already has: no assumption of which comes first)
function probe() {
  const plot = document.getElementById('loss-plot');
  const box = plot.getBoundingClientRect();
  const config = document.getElementById('config');
  const line = plot.querySelector && plot.querySelector('polyline.train');
  const seen = {
    plot: plot.tagName.toLowerCase(), width: box.width, height: box.height,
    decoded: plot.tagName === 'IMG' ? plot.complete && plot.naturalWidth > 0 : null,
    line_length: line ? line.getTotalLength() : null,
    config_height: config.getBoundingClientRect().height,
    config_text: config.innerText,
  };
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify(seen);
  document.body.appendChild(out);
}
if (document.readyState === 'complete') probe(); else window.addEventListener('load', probe);
</script>"""


def test_report_renders_in_headless_chromium(lm_run, tmp_path):
    browser = chromium()
    assert main(['report', str(lm_run)]) == 0
    page = lm_run / 'report.html'
    # the DOM as Chromium built it, asked by a probe added to a copy of the page
    probed = tmp_path / 'probed.html'
    probed.write_text(page.read_text(encoding='utf-8').replace('</body>', PROBE + '</body>'),
                      encoding='utf-8')
    # --virtual-time-budget: Chromium dumps the DOM once the page has loaded and has
    # nothing left to run (virtual time, which runs ahead when idle: no wall clock)
    dom = run_chromium(browser, tmp_path, '--virtual-time-budget=60000', '--dump-dom',
                       probed.as_uri())
    assert '<pre id="probe">' in dom, 'the page had not loaded when Chromium dumped the DOM'
    seen = json.loads(dom.split('<pre id="probe">')[1].split('</pre>')[0]
                      .replace('&quot;', '"').replace('&lt;', '<').replace('&gt;', '>')
                      .replace('&amp;', '&'))
    assert seen['width'] >= 600 and seen['height'] >= 300, seen
    if seen['plot'] == 'img':
        assert seen['decoded'], seen
    else:
        assert seen['plot'] == 'svg' and seen['line_length'] > 100, seen
    assert seen['config_height'] > 200
    for shown in ('config.model.cell', 'lstm', 'config.model.hidden\t12', 'config.data.seq_len\t16'):
        assert shown in seen['config_text'], seen['config_text']

    # and what a person sees: the report itself, as a screenshot
    shot = tmp_path / 'report.png'
    run_chromium(browser, tmp_path, '--window-size=1000,1400', '--force-device-scale-factor=1',
                 '--virtual-time-budget=60000', f'--screenshot={shot}', page.as_uri())
    width, height, pixels = read_png(shot)
    # Chromium versions differ on how much of the window a screenshot holds, so no
    # exact size: large enough to hold the plot (at least 600 x 300 above)
    assert width >= 600 and height >= 600, (width, height)
    curve = sum(1 for p in pixels if all(abs(a - b) <= 12 for a, b in zip(p, TRAIN_RGB)))
    assert curve > 300, f'the loss curve is not on the screenshot {shot}'


def read_png(path):
    """(width, height, list of RGB pixels) of an 8-bit non-interlaced PNG, as Chromium writes."""
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    pos, idat = 8, []
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            width, height, depth, colour, _, _, interlace = struct.unpack('>IIBBBBB', chunk)
        elif kind == b'IDAT':
            idat.append(chunk)
        pos += 12 + length
    assert depth == 8 and interlace == 0 and colour in (2, 6), (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b''.join(idat)), width * bpp
    pixels, prev = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        # undo the row's filter (PNG spec, section 9): none, sub, up, average, paeth
        if kind == 2:
            line = bytearray((x + b) & 255 for x, b in zip(line, prev))
        elif kind in (1, 3, 4):
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                if kind == 1:
                    line[i] = (line[i] + a) & 255
                elif kind == 3:
                    line[i] = (line[i] + ((a + b) >> 1)) & 255
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else
                                          b if pb <= pc else c)) & 255
        pixels.extend(tuple(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line
    return width, height, pixels
