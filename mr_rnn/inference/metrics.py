"""The numbers ``mr-rnn evaluate`` reports, from the evaluate job's totals
(on the driver, after the reduce): loss, perplexity, accuracy, F1 from the
confusion matrix, RMSE and MAE in the data's units; and their text form."""
import math

import numpy as np

from mr_rnn.inference.predictions import output_units


def classification_metrics(confusion):
    """confusion[t, p]: targets of class t predicted as p.

    Per class: precision tp / predicted, recall tp / true, F1 their harmonic
    mean (0 where undefined). Macro-F1 is the plain mean of F1 over the classes
    that occur as a target or as a prediction (scikit-learn's ``average='macro'``
    on the labels present).
    """
    confusion = np.asarray(confusion, np.float64)
    tp = np.diag(confusion)
    predicted, true = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = (predicted + true) > 0
    macro_f1 = float(f1[present].mean()) if present.any() else 0.0
    return {'macro_f1': macro_f1, 'precision': precision, 'recall': recall, 'f1': f1}


def regression_metrics(sq_err, abs_err, count, scale=None):
    """RMSE and MAE per output dimension and over all of them.

    ``count`` counts target scalars (docs/design.md §3.3), so each of the O dimensions
    has count / O of them. ``scale`` (O,) turns errors in normalised units back
    into the data's own units: an error e·std in original units for e in
    normalised ones (the mean cancels in a difference).
    """
    sq_err, abs_err = np.asarray(sq_err, np.float64), np.asarray(abs_err, np.float64)
    scale = np.ones_like(sq_err) if scale is None else np.asarray(scale, np.float64)
    n = count / sq_err.shape[0]
    sq, ab = sq_err * scale ** 2, abs_err * scale
    return {'rmse': float(np.sqrt(sq.sum() / count)), 'mae': float(ab.sum() / count),
            'rmse_per_output': np.sqrt(sq / n), 'mae_per_output': ab / n}


def evaluation_metrics(model, scalars, arrays):
    """Loss and the task's metrics, JSON-able; regression errors in the data's units."""
    count = scalars['count']
    loss = scalars['loss_sum'] / count
    result = {'loss': loss, 'targets': count, 'records': scalars.get('records', 0),
              'bad_records': scalars.get('bad', 0)}
    if model.schema.format == 'text':
        # which way the figure was measured: a line as one stream, or each window
        # from zeros (docs/design.md §3.1); the two are not comparable
        result['window_state'] = model.config.data.window_state
    task = model.schema.task
    if task == 'lm':
        result.update(perplexity=math.exp(loss), bits_per_token=loss / math.log(2))
    if task in ('lm', 'classify'):
        result['accuracy'] = scalars.get('correct', 0) / count
    if task == 'classify':
        confusion = arrays['confusion']
        cls = classification_metrics(confusion)
        result.update(macro_f1=cls['macro_f1'], f1_per_class=cls['f1'].tolist(),
                      confusion=confusion.astype(int).tolist())
    if task == 'regress':
        units = output_units(model.schema, model.config.data.horizon)
        reg = regression_metrics(arrays['sq_err'], arrays['abs_err'], count,
                                 [std for _, _, std in units])
        result.update(rmse=reg['rmse'], mae=reg['mae'], rmse_normalised=math.sqrt(loss),
                      per_output={name: {'rmse': float(r), 'mae': float(a)} for (name, _, _), r, a
                                  in zip(units, reg['rmse_per_output'], reg['mae_per_output'])})
    return result


def evaluation_lines(result):
    """``evaluation_metrics``'s result as text: one line per number, then the
    confusion matrix with F1 per class, or the errors per output."""
    lines = []
    for key, value in result.items():
        if isinstance(value, (list, dict)):
            continue
        lines.append(f'{key:>16}  {value:.6g}' if isinstance(value, float) else f'{key:>16}  {value}')
    if 'confusion' in result:
        confusion = result['confusion']
        width = max(5, len(str(max(max(row) for row in confusion))) + 1)
        lines.append('confusion matrix (rows: true class, columns: predicted class)')
        lines.append(' ' * 6 + ''.join(f'{c:>{width}}' for c in range(len(confusion))) + '      F1')
        for c, (row, f1) in enumerate(zip(confusion, result['f1_per_class'])):
            lines.append(f'{c:>6}' + ''.join(f'{n:>{width}}' for n in row) + f'  {f1:6.3f}')
    if len(result.get('per_output', {})) > 1:
        lines.append(f'{"output":>16}  {"rmse":>10}  {"mae":>10}   (data units)')
        for name, errors in result['per_output'].items():
            lines.append(f'{name:>16}  {errors["rmse"]:10.6g}  {errors["mae"]:10.6g}')
    return lines
