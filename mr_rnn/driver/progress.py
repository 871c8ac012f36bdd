"""What a person, or a machine, sees while a run trains.

    lines  (default)    one line per iteration, ending in the estimated time left
    bar    (a terminal) the same lines, with a live bar under them, redrawn while a
                        MapReduce job runs: iteration k of N, time in this round, time left
    quiet  (--quiet)    nothing but warnings and errors
    json   (--log-json) one JSON object per iteration on stdout (the metrics row, plus
                        ``max_iter`` and ``eta_seconds``); other messages on stderr

Warnings always go to stderr. mrjob's own log stays hidden unless -v
(driver/runner.quiet_mrjob). The Trainer calls ``row(row, config)`` for each
metrics row, ``message`` and ``warn`` for everything else.
"""
import importlib.util
import json
import shutil
import sys
import threading
import time


SPINNER = '|/-\\'
NO_PLOT = ("note: no loss.png, as matplotlib is not installed: pip install 'mr_rnn[plot]' "
           "(mr-rnn report RUN_DIR draws the curves without it)")


def make_progress(quiet=False, log_json=False, out=None, err=None):
    """The display that fits the flags and whether stdout is a terminal."""
    out, err = out or sys.stdout, err or sys.stderr
    if log_json:
        return Progress(out, err, json_rows=True, messages=None if quiet else err)
    if quiet:
        return Progress(out, err, lines=False, messages=None)
    tty = getattr(out, 'isatty', lambda: False)()
    return Progress(out, err, bar=tty)


def format_duration(seconds):
    """3s, 1m05s, 2h03m: short enough for one line."""
    if 0 < seconds < 0.5:
        return '<1s'
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f'{seconds}s'
    if seconds < 3600:
        return f'{seconds // 60}m{seconds % 60:02d}s'
    return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'


def progress_line(row):
    """One metrics row (driver/train.py) as the line a person reads. In average
    mode a round's training loss is the map tasks' loss along their own inner
    steps, not the averaged weights' (docs/design.md §3.3): it says so."""
    inner = row.get('inner_loss', False)
    val = f' val {row["val_loss"]:.4f}' if row['val_loss'] is not None else ''
    grad = f' |g| {row["grad_norm"]:.3g}' if row['grad_norm'] is not None else ''
    bad = f' bad {row["bad_records"]}' if row['bad_records'] else ''
    return (f'iter {row["iteration"]:4d}  {"inner loss" if inner else "loss"} '
            f'{row["train_loss"]:.4f}{val}{grad}  '
            f'lr {row["lr"]:.3g}  {row["seconds"]:.1f}s  records {row["records"]}{bad}')


class Eta:
    """Time left: the mean wall time of the last few rounds times the rounds left.

    A round's wall time is measured between metrics rows, so it includes writing
    the checkpoint; the first row has only its own ``seconds``. Convergence may end
    the run sooner, so this is an upper bound."""

    def __init__(self, clock=time.monotonic, window=5):
        self.clock, self.window = clock, window
        self.last, self.durations = None, []

    def seconds_per_round(self):
        return sum(self.durations) / len(self.durations) if self.durations else None

    def update(self, row, max_iter):
        """Seconds left after metrics row ``row``, or None before any estimate."""
        now = self.clock()
        took = now - self.last if self.last is not None else row.get('seconds')
        self.last = now
        if took is not None:
            self.durations = (self.durations + [took])[-self.window:]
        per_round = self.seconds_per_round()
        if per_round is None:
            return None
        return max(max_iter - row['iteration'], 0) * per_round


class Progress:
    def __init__(self, out, err, lines=True, bar=False, json_rows=False, messages='out',
                 interval=0.5, clock=time.monotonic):
        self.out, self.err = out, err
        self.lines, self.bar, self.json_rows = lines and not json_rows, bar, json_rows
        self.messages = out if messages == 'out' else messages
        self.interval, self.clock = interval, clock
        self.eta = Eta(clock)
        self.lock = threading.Lock()
        self.current, self.max_iter, self.loss = None, None, None
        self.round_started, self.left, self.drawn, self.spin = clock(), None, False, 0
        self.stop = threading.Event()
        self.ticker = None

    # ── what the Trainer and the cli call ──

    def message(self, text):
        if self.messages is not None:
            self._print(text, self.messages)

    def warn(self, text):
        self._print(text, self.err)

    def start(self, iteration, max_iter):
        """Training starts at checkpoint ``iteration``; the bar runs from here on."""
        self.current, self.max_iter = iteration, max_iter
        self.round_started = self.clock()
        if self.messages is not None and importlib.util.find_spec('matplotlib') is None:
            self.warn(NO_PLOT)
        if self.bar and self.ticker is None:
            self.ticker = threading.Thread(target=self._tick, daemon=True)
            self.ticker.start()
        self._redraw()

    def row(self, row, config):
        left = self.eta.update(row, config.max_iter)
        self.max_iter, self.loss, self.left = config.max_iter, row['train_loss'], left
        self.round_started = self.clock()
        # the round now running; none after the last one
        self.current = row['iteration'] + 1 if row['iteration'] < config.max_iter else None
        if self.json_rows:
            eta = None if left is None else round(left, 1)
            self._print(json.dumps(dict(row, max_iter=config.max_iter, eta_seconds=eta)),
                        self.out)
        elif self.lines:
            done = row['iteration'] >= config.max_iter
            eta = '' if done or left is None else f'  eta {format_duration(left)}'
            self._print(progress_line(row) + eta, self.out)

    def close(self):
        self.stop.set()
        if self.ticker is not None:
            self.ticker.join()
            self.ticker = None
        with self.lock:
            self._clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ── the terminal ──

    def _print(self, text, stream):
        with self.lock:
            self._clear()
            stream.write(text + '\n')
            stream.flush()
            self._draw()

    def _redraw(self):
        with self.lock:
            self._clear()
            self._draw()

    def _tick(self):
        while not self.stop.wait(self.interval):
            self.spin += 1
            self._redraw()

    def _clear(self):
        if self.drawn:
            self.out.write('\r\x1b[K')
            self.out.flush()
            self.drawn = False

    def _draw(self):
        if not self.bar or self.current is None or self.stop.is_set():
            return
        self.out.write(self.bar_text(shutil.get_terminal_size().columns - 1))
        self.out.flush()
        self.drawn = True

    def bar_text(self, width):
        """[=====>     ] iter 12/50  loss 3.0453  0:42 in this round  eta 2m10s |"""
        total = max(self.max_iter or 1, 1)
        done = min(self.current, total)
        cells = 24
        filled = cells * done // total
        arrow = '>' if filled < cells else ''
        bar = '[' + '=' * filled + arrow + ' ' * (cells - filled - len(arrow)) + ']'
        elapsed = self.clock() - self.round_started
        text = f'{bar} iter {self.current}/{self.max_iter}'
        if self.loss is not None:
            text += f'  loss {self.loss:.4f}'
        text += f'  {format_duration(elapsed)} in this round'
        if self.left is not None:
            text += f'  eta {format_duration(max(self.left - elapsed, 0))}'
        text += f' {SPINNER[self.spin % len(SPINNER)]}'
        return text[:max(width, 10)]
