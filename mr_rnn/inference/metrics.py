"""The numbers ``mr-rnn evaluate`` reports, from the evaluate job's totals
(on the driver, after the reduce): loss, perplexity, accuracy, per-class
precision, recall and F1 and their macro means from the confusion matrix,
RMSE and MAE in the data's units; and their text form, classes labelled by
their names where the model has them (docs/design.md §3.4)."""
import math

import numpy as np

from mr_rnn.inference.predictions import output_units


def classification_metrics(confusion):
    """confusion[t, p]: targets of class t predicted as p.

    Per class: precision tp / predicted, recall tp / true, F1 their harmonic
    mean (0 where undefined, as scikit-learn's ``zero_division=0``), support
    the targets of the class. Macro-F1 (and macro precision and recall) is the
    plain mean over the classes that occur as a target or as a prediction
    (scikit-learn's ``average='macro'`` on the labels present).
    """
    confusion = np.asarray(confusion, np.float64)
    tp = np.diag(confusion)
    predicted, true = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = (predicted + true) > 0

    def macro(per_class):
        return float(per_class[present].mean()) if present.any() else 0.0
    return {'macro_f1': macro(f1), 'macro_precision': macro(precision),
            'macro_recall': macro(recall), 'precision': precision, 'recall': recall, 'f1': f1,
            'support': true}


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
        labels = [model.schema.class_name(c) for c in range(len(confusion))]
        result.update(
            macro_f1=cls['macro_f1'], macro_precision=cls['macro_precision'],
            macro_recall=cls['macro_recall'], f1_per_class=cls['f1'].tolist(),
            confusion=confusion.astype(int).tolist(), labels=labels,
            # scikit-learn's classification_report(output_dict=True), keyed by
            # the class's name (or its id as text: JSON keys are strings)
            per_class={str(label): {'precision': float(p), 'recall': float(r), 'f1': float(f),
                                    'support': int(n)}
                       for label, p, r, f, n in zip(labels, cls['precision'], cls['recall'],
                                                    cls['f1'], cls['support'])})
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
    confusion matrix with F1 per class and the per-class table (classes by
    name, or id), or the errors per output."""
    lines = []
    for key, value in result.items():
        if isinstance(value, (list, dict)):
            continue
        lines.append(f'{key:>16}  {value:.6g}' if isinstance(value, float) else f'{key:>16}  {value}')
    if 'confusion' in result:
        lines += _confusion_lines(result)
    if len(result.get('per_output', {})) > 1:
        lines.append(f'{"output":>16}  {"rmse":>10}  {"mae":>10}   (data units)')
        for name, errors in result['per_output'].items():
            lines.append(f'{name:>16}  {errors["rmse"]:10.6g}  {errors["mae"]:10.6g}')
    return lines


COLUMN_LABEL, ROW_LABEL = 12, 24    # characters of a class name shown as a column, as a row


def _short(label, width):
    label = str(label)
    return label if len(label) <= width else label[:width - 1] + '~'


def _confusion_lines(result):
    """The confusion matrix, rows and columns labelled by class name (or id),
    each row ending in the class's F1; then precision, recall, F1 and support
    per class, as scikit-learn's classification_report."""
    confusion, labels = result['confusion'], result.get('labels') or range(len(result['confusion']))
    rows = [_short(label, ROW_LABEL) for label in labels]
    columns = [_short(label, COLUMN_LABEL) for label in labels]
    width = max(5, len(str(max(max(row) for row in confusion))) + 1,
                max(len(c) for c in columns) + 1)
    left = max(6, max(len(r) for r in rows))
    lines = ['confusion matrix (rows: true class, columns: predicted class)',
             ' ' * left + ''.join(f'{c:>{width}}' for c in columns) + '      F1']
    for label, row, f1 in zip(rows, confusion, result['f1_per_class']):
        lines.append(f'{label:>{left}}' + ''.join(f'{n:>{width}}' for n in row) + f'  {f1:6.3f}')
    if 'per_class' in result:
        lines.append(f'{"class":>{left}}  precision     recall         F1    support')
        for label, m in zip(rows, result['per_class'].values()):
            lines.append(f'{label:>{left}}  {m["precision"]:9.4f}  {m["recall"]:9.4f}  '
                         f'{m["f1"]:9.4f}  {m["support"]:9d}')
    return lines
