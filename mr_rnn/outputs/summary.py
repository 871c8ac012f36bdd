"""A checkpoint as the lines ``mr-rnn inspect`` prints: what it is, how it was
trained, its vocabulary, tokenizer settings, class names or normalisation, and
every array."""
from mr_rnn.codec.checkpoint import OPTIM_PREFIX, load_checkpoint


def checkpoint_summary(path):
    arrays, meta = load_checkpoint(path)
    schema, config = meta['schema'], meta['config']
    model, opt = config['model'], config['optimizer']
    lines = [
        f'checkpoint   {path} (format {meta["format"]}, checksum ok)',
        f'iteration    {meta["iteration"]}   seed {meta["seed"]}',
        f'model        {model["cell"]} hidden {model["hidden"]} layers {model["layers"]} '
        f'{model["dtype"]}',
        f'task         {schema["task"]} on {schema["format"]}: input '
        f'{"tokens" if schema["token_input"] else "dense"} x{schema["input_size"]}, output '
        f'{schema["output_size"]} {"per step" if schema["per_step"] else "at the last step"}',
        f'optimizer    {opt["name"]} lr {opt["lr"]:g}']
    if config.get('mode') == 'average' and 'outer_optimizer' in config:
        lines.append(f'average mode outer {config["outer_optimizer"]} lr {config["outer_lr"]:g} '
                     f'momentum {config["outer_momentum"]:g}, inner state {config["inner_state"]}')
    if schema.get('vocab'):
        shown = ''.join(c for c in schema['vocab'][1:] if c.isprintable())
        lines.append(f'vocabulary   {len(schema["vocab"])} symbols: {shown[:60]!r}')
    if schema.get('tokens'):
        lines.append('tokens       ' + ', '.join(f'{k} {v}' for k, v in schema['tokens'].items()))
    if schema.get('classes'):
        lines.append(f'classes      {len(schema["classes"])}: '
                     + ', '.join(schema['classes'][:10]) + (', ...' if schema['classes'][10:] else ''))
    if schema.get('norm'):
        lines.append('normalised   ' + ', '.join(f'{c} (mean {m:.4g}, std {s:.4g})'
                                                 for c, (m, s) in schema['norm'].items()))
    lines.append('arrays')
    lines += [f'  {name:<36} {str(array.shape):<14} {array.dtype}' for name, array in arrays.items()]
    total = sum(a.size for name, a in arrays.items() if not name.startswith(OPTIM_PREFIX))
    lines.append(f'parameters   {total}')
    return lines
