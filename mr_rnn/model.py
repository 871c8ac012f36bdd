"""A model as the checkpoint holds it: configuration, data schema, weights and
optimizer state. The one place that turns a checkpoint into objects and back."""
from dataclasses import dataclass, replace

import numpy as np

from mr_rnn.codec.checkpoint import (CheckpointError, join_arrays, load_checkpoint,
                                     save_checkpoint, split_arrays)
from mr_rnn.config import ConfigError, TrainConfig
from mr_rnn.data.schema import DataSchema
from mr_rnn.kernels import optim
from mr_rnn.kernels.network import NetworkSpec, init_params, param_shapes
from mr_rnn.kernels.optim import scheduled_lr


@dataclass
class Model:
    config: TrainConfig
    schema: DataSchema
    params: dict                # PyTorch names -> arrays in the model's dtype
    optim_state: dict           # param name -> {state name -> float64 array}
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

    @classmethod
    def initial(cls, config, schema):
        spec = network_spec(config, schema)
        params = init_params(spec, config.seed, np.dtype(config.model.dtype), config.init,
                             config.forget_bias)
        return cls(config, schema, params, initial_state(config, params), 0)

    @classmethod
    def load(cls, path):
        arrays, meta = load_checkpoint(path)
        try:
            config = TrainConfig.from_dict(meta['config'])
            schema = DataSchema.from_dict(meta['schema'])
        except (KeyError, TypeError, ConfigError) as e:
            raise CheckpointError(f'checkpoint {path} has an unusable configuration ({e})') from None
        params, state = split_arrays(arrays)
        expected = param_shapes(network_spec(config, schema))
        got = {n: tuple(a.shape) for n, a in params.items()}
        if got != expected:
            raise CheckpointError(f'checkpoint {path}: parameters {got} do not match the '
                                  f'configuration, which needs {expected}')
        for name in params:
            state.setdefault(name, {})
        check_state(path, config, params, state)
        return cls(config, schema, params, state, int(meta['iteration']),
                   int(meta.get('optim_step', meta['iteration'])), float(meta.get('lr_scale', 1.0)))

    def save(self, path):
        meta = {'iteration': self.iteration, 'seed': self.config.seed,
                'optim_step': self.optim_step, 'lr_scale': self.lr_scale,
                'config': self.config.to_dict(), 'schema': self.schema.to_dict()}
        if self.schema.vocab is not None:
            meta['vocab'] = list(self.schema.vocab)
        if self.schema.norm is not None:
            meta['normalisation'] = self.schema.norm
        return save_checkpoint(path, join_arrays(self.params, self.optim_state), meta)

    def with_config(self, config):
        return replace(self, config=config)


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


def check_state(path, config, params, state):
    expected = set(state_names(config))
    for name, param in params.items():
        got = {k: a.shape for k, a in state[name].items()}
        if set(got) != expected or any(shape != param.shape for shape in got.values()):
            raise CheckpointError(
                f'checkpoint {path}: optimizer state of {name} {sorted(got)} does not match '
                f'the configuration, which needs {sorted(expected)} of shape {param.shape}')


def network_spec(config, schema):
    return NetworkSpec(
        cell=config.model.cell, input_size=schema.input_size, hidden=config.model.hidden,
        layers=config.model.layers, output_size=schema.output_size,
        token_input=schema.token_input, head='per_step' if schema.per_step else 'last_step',
        loss='mse' if schema.task == 'regress' else 'xent')
