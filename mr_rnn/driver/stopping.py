"""The stopping rules and the divergence rule, as functions of the metrics rows
so far (docs/design.md §9). Validation loss when there is one, else training
loss; the convergence test and divergence are always judged on the training
loss."""
import math

from mr_rnn.config import CONVERGED_ROUNDS, CONVERGED_RTOL, PATIENCE_FULL_BATCH, PATIENCE_NOISY


def should_stop(history, config):
    """None, or why training stops now (besides --max-iter, which the loop
    checks): --target-loss reached, the training loss converged (``converged``),
    or, with a patience (``effective_patience``), the best loss has not improved
    by more than --tol (relative) for that many rounds.

    Improvement is judged against the best so far, not the previous round:
    noise that goes up and down never stops a run early, and a slow creep that
    adds up to more than tol counts. The count starts at the round that last
    improved the best by more than tol.
    """
    key = 'val_loss' if history and history[-1]['val_loss'] is not None else 'train_loss'
    losses = [r[key] for r in history]
    which = key.split('_')[0]
    if config.target_loss is not None and losses and losses[-1] <= config.target_loss:
        return f'target loss {config.target_loss:g} reached ({which} loss {losses[-1]:.4f})'
    still = converged(history, config)
    if still:
        return still
    patience = effective_patience(config)
    if not patience:
        return None
    since = plateau_start(losses, config.tol)
    if since is None or len(losses) - 1 - since < patience:
        return None
    return (f'no improvement of the {which} loss by more than --tol {config.tol:g} for '
            f'{patience} rounds since round {history[since]["iteration"]} '
            f'(best {min(losses):.4f})')


def converged(history, config):
    """None, or why the training loss has converged: over the last
    CONVERGED_ROUNDS rounds it moved by at most CONVERGED_RTOL of itself
    (max - min <= rtol x |min|). Full-batch gradient mode only, where a round's
    loss is the exact loss of its checkpoint; a sampled or average-mode loss
    moves with its sample. The bound is orders of magnitude below what any
    plateau measured moved (bench/STOPPING.md), so only weights that no longer
    change stop a run this way. A configuration written before this test
    (``config.patience`` None) keeps the rules it had: it does not apply."""
    if (config.patience is None or config.mode != 'gradient' or config.sample_fraction != 1
            or len(history) < CONVERGED_ROUNDS):
        return None
    window = [r['train_loss'] for r in history[-CONVERGED_ROUNDS:]]
    if not all(math.isfinite(loss) for loss in window):
        return None
    low, high = min(window), max(window)
    if high - low > CONVERGED_RTOL * abs(low):
        return None
    moved = (high - low) / abs(low) if low else 0.0
    return (f'the train loss converged: it moved by {moved:.1e} of itself over the last '
            f'{CONVERGED_ROUNDS} rounds, at most {CONVERGED_RTOL:g} ({low:.6g})')


def plateau_start(losses, tol):
    """Index of the last loss that beat the reference best by more than tol
    (relative), where the reference is the loss that last did so; None when
    there is no loss yet."""
    since, reference = None, None
    for i, loss in enumerate(losses):
        if not math.isfinite(loss):
            continue
        if reference is None or loss < reference - tol * abs(reference):
            since, reference = i, loss
    return since


def legacy_patience(config):
    """The patience of a configuration that stored none (``patience`` None):
    one written when the plateau rule was on by default, before --patience had
    to ask for it (docs/design.md §9, "Runs started before")."""
    if config.mode == 'gradient' and config.sample_fraction == 1:
        return PATIENCE_FULL_BATCH
    return PATIENCE_NOISY


def effective_patience(config):
    """The rounds without progress that stop the run; 0: the plateau rule is off."""
    return legacy_patience(config) if config.patience is None else config.patience


def diverged(loss, history, config):
    """0, or the number of rounds (this one included) a divergence has lasted.

    A NaN or infinite loss diverges at once. A finite one only when it has
    stayed above max(--divergence-factor x the best training loss before it,
    the first round's loss) for ``divergence_rounds`` rounds in a row: an
    optimizer's spike that recovers is not divergence, and a loss near zero
    does not make every wobble a factor of 10 (the first round's loss is the
    floor: only worse than the untrained model counts).
    """
    if not math.isfinite(loss):
        return 1
    losses = [r['train_loss'] for r in history] + [loss]
    rounds = 0
    for i in range(len(losses) - 1, 0, -1):
        if not losses[i] > max(config.divergence_factor * min(losses[:i]), losses[0]):
            break
        rounds += 1
    return rounds if rounds >= config.divergence_rounds else 0


def best_iteration(history, config):
    """The iteration best.npz holds: the lowest validation loss; without
    validation data, the lowest training loss, or in average mode the newest
    checkpoint: its rounds' training loss is the tasks' inner loss, which the
    averaged weights never had (docs/design.md §3.5)."""
    if history[-1]['val_loss'] is not None:
        return min(history, key=lambda r: r['val_loss'])['iteration']
    if config.mode == 'average':
        return history[-1]['iteration']
    return min(history, key=lambda r: r['train_loss'])['iteration']


def best_why(history, config):
    """Why best.npz holds the checkpoint it holds, for the final line."""
    if history[-1]['val_loss'] is not None:
        return 'the lowest validation loss'
    if config.mode == 'average':
        return 'the newest checkpoint: average mode\'s training loss is the tasks\' inner loss'
    return 'the lowest training loss'
