"""A model as the checkpoint holds it: configuration, data schema, weights and
optimizer state. The one place that turns a checkpoint into objects and back,
and that puts weights trained elsewhere (a torch-format state dict) into a model."""
import dataclasses
from dataclasses import dataclass

import numpy as np

from mr_rnn.codec.checkpoint import (OPTIM_PREFIX, CheckpointError, join_arrays,
                                     load_checkpoint, save_checkpoint, split_arrays)
from mr_rnn.codec.state_dict import ExportError, read_state_dict
from mr_rnn.config import ConfigError, TrainConfig, flag_of, with_old_meaning, with_options
from mr_rnn.data.schema import DataSchema
from mr_rnn.kernels import optim
from mr_rnn.kernels.network import NetworkSpec, init_params, param_shapes
from mr_rnn.kernels.optim import scheduled_lr


@dataclass
class Model:
    config: TrainConfig
    schema: DataSchema
    params: dict                # PyTorch names -> arrays in the model's dtype
    optim_state: dict           # param name -> {state name -> float64 array}; None when
                                # loaded without it (load(optimizer_state=False))
    iteration: int = 0
    optim_step: int = 0         # optimizer steps taken (more than iterations in average mode)
    lr_scale: float = 1.0       # halved by --on-divergence halve-lr

    @property
    def spec(self):
        return network_spec(self.config, self.schema)

    def lr(self):
        """The learning rate of this iteration's update."""
        cfg = self.config
        return scheduled_lr(cfg.optimizer, self.iteration, cfg.max_iter) * self.lr_scale

    @property
    def dtype(self):
        return np.dtype(self.config.model.dtype)

    @property
    def carries_state(self):
        """Whether the windows of a record carry the state (docs/design.md §3.1):
        text lines cut into windows only; a jsonl record is one sequence, and
        csv windows overlap."""
        return self.schema.format == 'text' and self.config.data.window_state == 'carry'

    def with_window_state(self, window_state):
        """This model, its text windows scored with ``window_state`` (carry or
        reset) instead of the way it was trained (``evaluate --window-state``);
        None: as trained."""
        if window_state is None:
            return self
        return dataclasses.replace(
            self, config=with_options(self.config, {'data.window_state': window_state}))

    @classmethod
    def initial(cls, config, schema):
        spec = network_spec(config, schema)
        params = init_params(spec, config.seed, np.dtype(config.model.dtype), config.init,
                             config.forget_bias)
        return cls(config, schema, params, initial_state(config, params), 0)

    @classmethod
    def load(cls, path, optimizer_state=True):
        """The checkpoint at ``path``. ``optimizer_state=False``: its weights
        only, the optimizer state neither read nor checked (``optim_state``
        None): all a task that runs the network needs (docs/design.md §8.2)."""
        arrays, meta = load_checkpoint(
            path, None if optimizer_state else lambda name: not name.startswith(OPTIM_PREFIX))
        try:
            config = TrainConfig.from_dict(with_old_meaning(meta['config']))
            schema = DataSchema.from_dict(meta['schema'])
        except (KeyError, TypeError, ConfigError) as e:
            raise CheckpointError(f'checkpoint {path} has an unusable configuration ({e})') from None
        problem = unwritten(config, schema, arrays, meta, optimizer_state)
        if problem:
            raise CheckpointError(f'checkpoint {path} is not one mr_rnn writes: {problem}; '
                                  'use another checkpoint')
        params, state = split_arrays(arrays)
        for name in params:
            state.setdefault(name, {})
        if not optimizer_state:
            state = None
        return cls(config, schema, params, state, meta['iteration'],
                   meta.get('optim_step', meta['iteration']), float(meta.get('lr_scale', 1.0)))

    def save(self, path):
        meta = {'iteration': self.iteration, 'seed': self.config.seed,
                'optim_step': self.optim_step, 'lr_scale': self.lr_scale,
                'config': self.config.to_dict(), 'schema': self.schema.to_dict()}
        if self.schema.vocab is not None:
            meta['vocab'] = list(self.schema.vocab)
        if self.schema.norm is not None:
            meta['normalisation'] = self.schema.norm
        return save_checkpoint(path, join_arrays(self.params, self.optim_state), meta)

    def finite(self):
        """Whether every weight and optimizer-state value is a finite number: the
        loader refuses a checkpoint that is not."""
        return all(np.isfinite(a).all() for a in join_arrays(self.params, self.optim_state).values())


def state_names(config):
    """The optimizer state a checkpoint holds per parameter: the inner
    optimizer's (not in average mode with --inner-state reset, which starts
    it afresh every round), and in average mode the outer optimizer's."""
    if config.mode != 'average':
        return optim.STATE_NAMES[config.optimizer.name]
    inner = optim.STATE_NAMES[config.optimizer.name] if config.inner_state == 'average' else ()
    return inner + optim.outer_state_names(config.outer_optimizer)


def initial_state(config, params):
    return {n: {k: np.zeros(p.shape, np.float64) for k in state_names(config)}
            for n, p in params.items()}


def unwritten(config, schema, arrays, meta, optimizer_state=True):
    """Why these arrays and metadata are not what ``Model.save`` writes for this
    configuration (its weights only, without ``optimizer_state``), or None. The checksum catches damage; this catches files
    written by other code: unknown or malformed array names, another dtype
    (parameters in the configured dtype, optimizer state in float64), another
    shape, NaN or infinite values, missing arrays."""
    expected = param_shapes(network_spec(config, schema))
    dtype, states = np.dtype(config.model.dtype), state_names(config)
    for name in sorted(arrays):
        array = arrays[name]
        if name.startswith(OPTIM_PREFIX):
            kind, _, param = name[len(OPTIM_PREFIX):].partition('.')
            if kind not in states or param not in expected:
                return (f'unknown array {name!r} (the {config.optimizer.name} optimizer keeps '
                        f'{", ".join(states) or "no state"} per parameter)')
            want_shape, want_dtype = expected[param], np.dtype(np.float64)
        elif name in expected:
            want_shape, want_dtype = expected[name], dtype
        else:
            return f'unknown array {name!r}'
        if array.dtype != want_dtype:
            return f'array {name} is {array.dtype}, not {want_dtype}'
        if array.shape != want_shape:
            return f'array {name} has shape {array.shape}, the configuration needs {want_shape}'
        if not np.isfinite(array).all():
            return f'array {name} holds NaN or infinite values'
    wanted = set(expected) | {f'{OPTIM_PREFIX}{k}.{p}' for p in expected for k in states
                              if optimizer_state}
    missing = sorted(wanted - set(arrays))
    if missing:
        return f'array {missing[0]} is missing' + (f' ({len(missing)} in all)' if missing[1:] else '')
    step, scale = meta.get('optim_step', 0), meta.get('lr_scale', 1.0)
    if type(step) is not int or step < 0:
        return f'invalid optim_step {step!r}'
    if type(scale) not in (int, float) or not 0 < scale < float('inf'):
        return f'invalid lr_scale {scale!r}'
    return None


def network_spec(config, schema):
    if config.model.embed and not schema.token_input:
        raise ConfigError(f'{flag_of(config.model, "embed")} needs token input (text, or jsonl '
                          f'token ids); this {schema.format} data has {schema.input_size} '
                          'features per step: leave it out')
    if config.model.pool != 'last' and schema.per_step:
        raise ConfigError(f'{flag_of(config.model, "pool")} {config.model.pool} pools a whole '
                          f'record for one output; this {schema.task} data has a target at every '
                          'step: leave it out')
    return NetworkSpec(
        cell=config.model.cell, input_size=schema.input_size, hidden=config.model.hidden,
        layers=config.model.layers, output_size=schema.output_size,
        token_input=schema.token_input, head='per_step' if schema.per_step else 'last_step',
        loss='mse' if schema.task == 'regress' else 'xent', embed=config.model.embed,
        pool=config.model.pool)


def init_from_state_dict(model, path):
    """``model`` with its weights replaced by the state dict at ``path`` and a
    fresh optimizer state: to go on training weights trained elsewhere.

    The names and shapes must be exactly the model's (torch names, docs/design.md §3.2);
    a text model's vocabulary, where OUT.json records it, must be the same,
    because a token id means a character.
    """
    arrays, facts = read_state_dict(path)
    expected = param_shapes(model.spec)
    got = {name: tuple(a.shape) for name, a in arrays.items()}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        wrong = sorted(n for n in set(got) & set(expected) if got[n] != expected[n])
        raise ExportError(
            f'state dict {path} does not fit this model (missing {missing}, unexpected {extra}, '
            f'other shapes {[(n, got[n], expected[n]) for n in wrong]}): use the same --cell, '
            '--hidden and --layers, and names rnn.* and head.*')
    for name in sorted(expected):
        if arrays[name].dtype.kind != 'f':
            raise ExportError(f'state dict {path}: {name} is {arrays[name].dtype}, not floats')
        if not np.isfinite(arrays[name]).all():
            raise ExportError(f'state dict {path}: {name} holds NaN or infinite values')
    if facts and model.schema.vocab is not None:
        vocab = facts.get('schema', {}).get('vocab')
        if vocab is not None and tuple(vocab) != tuple(model.schema.vocab):
            raise ExportError(f'state dict {path} was trained with another vocabulary than '
                              'this data\'s: its token ids would mean other characters')
    params = {name: np.array(arrays[name], model.dtype) for name in expected}
    return Model(model.config, model.schema, params, initial_state(model.config, params),
                 model.iteration)
