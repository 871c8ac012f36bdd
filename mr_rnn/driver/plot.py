"""A run's loss curves, drawn in one place: the picture in RUN_DIR/loss.png
(driver/train.py) and in report.html (driver/report.py, which draws the same series
as an SVG of its own when matplotlib is not installed)."""
import io
import math

TRAIN_COLOUR, VAL_COLOUR = '#1f77b4', '#ff7f0e'    # matplotlib's first two colours
WIDTH, HEIGHT = 720, 360                            # pixels


def loss_series(rows):
    """(train, validation): [(iteration, loss)] of the metrics rows whose loss is a
    finite number; a row cut short or written by hand has none."""
    def points(key):
        return [(r['iteration'], r[key]) for r in rows
                if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return points('train_loss'), points('val_loss')


def loss_png(rows):
    """The training and validation loss per iteration as PNG bytes, WIDTH × HEIGHT,
    or None without matplotlib (the extra 'plot')."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return None
    train, val = loss_series(rows)
    fig, ax = plt.subplots(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    if train:
        ax.plot(*zip(*train), color=TRAIN_COLOUR, label='train')
    if val:
        ax.plot(*zip(*val), color=VAL_COLOUR, label='validation')
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel('iteration (MapReduce round)')
    ax.set_ylabel('loss')
    if train or val:
        ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png')
    plt.close(fig)
    return buffer.getvalue()
