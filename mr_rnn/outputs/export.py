"""A checkpoint's model for other runtimes: ONNX, and a PyTorch state dict.

ONNX (``export_onnx``): the standard RNN / LSTM / GRU operators, one per
layer, chained, then the linear head. Inputs and outputs, batch first:

    x        float32 (batch, seq, D), or int64 (batch, seq) token ids
    lengths  int32 (batch,): real steps of each sequence (padding at the end);
             for fixed-length data pass seq for every sequence
    output   float32 (batch, seq, O) for per-step models, (batch, O) for
             last-step models (the step lengths[b] - 1 of each sequence, or
             with --pool mean/max the steps before it pooled):
             logits for classes and tokens, predictions in normalised units
             for regression (the statistics are in the model's metadata)

PyTorch and ONNX order the gates differently, so the weight blocks are
reordered: LSTM i f g o -> i o f c; GRU r z n -> z r h, with
linear_before_reset=1, which is where PyTorch keeps b_hn (inside the reset
product). Token inputs are one-hot encoded (OneHot), so W keeps PyTorch's
(G·H, V) shape; with an embedding table (--embed) they are its rows
(Gather). Initial states are zero, as in mr_rnn and PyTorch.

PyTorch (``export_torch``): an ``.npz`` holding exactly the ``state_dict()``
of a module with attributes ``embedding`` (torch.nn.Embedding, with --embed),
``rnn`` (torch.nn.RNN/LSTM/GRU, batch_first) and
``head`` (torch.nn.Linear), and beside it ``OUT.json`` with the sizes, the
vocabulary and the normalisation. No pickle: ``numpy.load(allow_pickle=False)``
reads it and ``torch.tensor`` turns each array into a tensor (docs/using-models.md).
The file format is codec/state_dict.py's; model.init_from_state_dict reads
such a file back into a model to go on training.

Either way, beside the model, ``OUT.tokenizer.json`` (``model.onnx`` ->
``model.tokenizer.json``, ``weights.npz`` -> ``weights.tokenizer.json``): what
turns a user's text into the model's input and its output into class names,
with no checkpoint and no mr_rnn model code (``tokenizer_facts``,
docs/design.md §3.4):

    format    "mr_rnn-tokenizer-1"
    task      lm | classify | regress
    tokens    the tokenizer settings: {"kind": "words", ...} as the describe
              pass set them, {"kind": "chars"} (text), {"kind": "ids"} (jsonl
              token ids, used as they are); null for a model of feature vectors
    vocab     token by id, "<unk>" at id 0; null without a vocabulary
    classes   class name by class id; null when the ids are the classes
    max_len   the model's --max-len: a record's first (keep "start") or last
    keep      (keep "end") max_len tokens are what it reads; null: all of them
"""
import json
import os

import numpy as np

from mr_rnn.codec.checkpoint import write_atomic
from mr_rnn.codec.state_dict import ExportError, sidecar_path, write_state_dict

ONNX_DOC = ('inputs: x (batch, seq, D) float32 or (batch, seq) int64 token ids; lengths (batch,) '
            'int32. output: (batch, seq, O) per step or (batch, O) at each last step.')
OPSET = 17
IR_VERSION = 8          # the oldest IR that carries opset 17: the widest choice of runtimes
TORCH_MODULE = {'rnn': 'RNN', 'lstm': 'LSTM', 'gru': 'GRU'}

# PyTorch's gate blocks, in the order ONNX wants them
ONNX_GATE_ORDER = {
    'rnn': (0,),          # one block
    'lstm': (0, 3, 1, 2),  # torch i f g o -> onnx i o f c
    'gru': (1, 0, 2),      # torch r z n   -> onnx z r h
}


def model_facts(model):
    """What a runtime needs beside the weights: sizes, vocabulary, normalisation."""
    spec = model.spec
    return {'cell': spec.cell, 'input_size': spec.input_size, 'hidden': spec.hidden,
            'layers': spec.layers, 'output_size': spec.output_size,
            'token_input': spec.token_input, 'embed': spec.embed, 'head': spec.head,
            'pool': spec.pool, 'task': model.schema.task,
            'dtype': model.config.model.dtype,
            'horizon': model.config.data.horizon, 'schema': model.schema.to_dict()}


TOKENIZER_FORMAT = 'mr_rnn-tokenizer-1'


def tokenizer_path(path):
    """Where the tokenizer file of the model file ``path`` goes: beside it,
    its name with ``.tokenizer.json`` for the extension."""
    return os.path.splitext(path)[0] + '.tokenizer.json'


def tokenizer_facts(model):
    """The tokenizer file's content (the module docstring): a runtime's way
    from raw text to the model's input ids, and from its outputs to names."""
    s = model.schema
    return {'format': TOKENIZER_FORMAT, 'task': s.task, 'tokens': s.token_settings(),
            'vocab': list(s.vocab) if s.vocab is not None else None,
            'classes': list(s.classes) if s.classes is not None else None,
            'max_len': model.config.data.max_len or None, 'keep': model.config.data.keep}


def write_tokenizer(model, path):
    write_atomic(tokenizer_path(path),
                 (json.dumps(tokenizer_facts(model), indent=2, ensure_ascii=False) + '\n')
                 .encode('utf-8'))


# ── ONNX ──

def gate_blocks(array, cell):
    """Reorder the gate blocks (first axis) of a PyTorch weight or bias for ONNX."""
    blocks = np.split(np.asarray(array), len(ONNX_GATE_ORDER[cell]), axis=0)
    return np.concatenate([blocks[g] for g in ONNX_GATE_ORDER[cell]], axis=0)


def onnx_model(model):
    """The model as an onnx.ModelProto (float32 weights)."""
    from onnx import TensorProto, helper, numpy_helper
    spec, p = model.spec, model.params
    H = spec.hidden
    inits, nodes = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def f32(array):
        return np.ascontiguousarray(array, np.float32)

    if spec.embed:
        x = helper.make_tensor_value_info('x', TensorProto.INT64, ['batch', 'seq'])
        # torch.nn.Embedding: a token's row of the table
        nodes.append(helper.make_node('Gather', [const('embedding.weight', f32(p['embedding.weight'])),
                                                 'x'], ['x_embedded'], axis=0))
        dense = 'x_embedded'                                          # (B, T, E)
    elif spec.token_input:
        x = helper.make_tensor_value_info('x', TensorProto.INT64, ['batch', 'seq'])
        nodes.append(helper.make_node(
            'OneHot', ['x', const('vocab_size', np.array(spec.input_size, np.int64)),
                       const('off_on', np.array([0.0, 1.0], np.float32))], ['x_onehot']))
        dense = 'x_onehot'                                            # (B, T, V)
    else:
        x = helper.make_tensor_value_info('x', TensorProto.FLOAT, ['batch', 'seq', spec.input_size])
        dense = 'x'                                                   # (B, T, D)
    lengths = helper.make_tensor_value_info('lengths', TensorProto.INT32, ['batch'])
    nodes.append(helper.make_node('Transpose', [dense], ['x_tbd'], perm=[1, 0, 2]))  # (T, B, D)

    op = TORCH_MODULE[spec.cell]
    layer_in = 'x_tbd'
    for k in range(spec.layers):
        W = gate_blocks(p[f'rnn.weight_ih_l{k}'], spec.cell)[None]          # (1, G*H, D_in)
        R = gate_blocks(p[f'rnn.weight_hh_l{k}'], spec.cell)[None]          # (1, G*H, H)
        B = np.concatenate([gate_blocks(p[f'rnn.bias_ih_l{k}'], spec.cell),
                            gate_blocks(p[f'rnn.bias_hh_l{k}'], spec.cell)])[None]  # (1, 2*G*H)
        attrs = {'hidden_size': H}
        if spec.cell == 'gru':
            attrs['linear_before_reset'] = 1
        nodes.append(helper.make_node(
            op, [layer_in, const(f'W_l{k}', f32(W)), const(f'R_l{k}', f32(R)),
                 const(f'B_l{k}', f32(B)), 'lengths'],
            [f'Y_l{k}', f'Y_h_l{k}'], name=f'{op.lower()}_l{k}', **attrs))
        # Y (T, 1, B, H) -> (T, B, H): the next layer's input
        nodes.append(helper.make_node('Squeeze', [f'Y_l{k}', const(f'axis1_l{k}', np.array([1]))],
                                      [f'h_l{k}']))
        layer_in = f'h_l{k}'

    top = spec.layers - 1
    if spec.head == 'per_step':
        nodes.append(helper.make_node('Transpose', [f'h_l{top}'], ['h_btH'], perm=[1, 0, 2]))
        nodes.append(helper.make_node('MatMul', ['h_btH', const('head.weight_T',
                                                                f32(p['head.weight'].T))], ['z']))
        nodes.append(helper.make_node('Add', ['z', const('head.bias', f32(p['head.bias']))],
                                      ['output']))
        out_shape = ['batch', 'seq', spec.output_size]
    elif spec.pool == 'last':
        # Y_h (1, B, H) holds each sequence's state at its own last step
        nodes.append(helper.make_node('Squeeze', [f'Y_h_l{top}', const('axis0', np.array([0]))],
                                      ['h_last']))
    else:
        nodes += pool_nodes(spec.pool, f'h_l{top}', 'x_tbd', 'h_last', const)
    if spec.head != 'per_step':
        nodes.append(helper.make_node(
            'Gemm', ['h_last', const('head.weight', f32(p['head.weight'])),
                     const('head.bias', f32(p['head.bias']))], ['output'], transB=1))
        out_shape = ['batch', spec.output_size]
    output = helper.make_tensor_value_info('output', TensorProto.FLOAT, out_shape)

    graph = helper.make_graph(nodes, f'mr_rnn_{spec.cell}', [x, lengths], [output], inits,
                              doc_string=ONNX_DOC)
    onnx_proto = helper.make_model(graph, producer_name='mr_rnn',
                                   opset_imports=[helper.make_opsetid('', OPSET)])
    onnx_proto.ir_version = IR_VERSION
    helper.set_model_props(onnx_proto, {'mr_rnn': json.dumps(model_facts(model))})
    return onnx_proto


def pool_nodes(pool, steps, like, out, const):
    """Nodes that pool ``steps`` (T, B, H) over each sequence's real steps
    (from the graph input ``lengths``) into ``out`` (B, H): the mask is built
    here rather than trusting what a runtime leaves in Y past a sequence's
    end."""
    from onnx import helper
    node = helper.make_node
    return [
        node('Shape', [like], ['pool_shape']),
        node('Gather', ['pool_shape', const('pool_axis0', np.array(0, np.int64))], ['pool_T']),
        node('Range', [const('pool_zero', np.array(0, np.int64)), 'pool_T',
                       const('pool_one', np.array(1, np.int64))], ['pool_t']),        # (T,)
        node('Unsqueeze', ['pool_t', const('pool_axes1', np.array([1]))], ['pool_t1']),  # (T, 1)
        node('Cast', ['lengths'], ['pool_len'], to=7),                               # int64 (B,)
        node('Less', ['pool_t1', 'pool_len'], ['pool_real']),                        # (T, B)
        node('Unsqueeze', ['pool_real', const('pool_axes2', np.array([2]))], ['pool_mask']),
        *([node('Where', ['pool_mask', steps, const('pool_fill', np.array(0, np.float32))],
                ['pool_kept']),
           node('ReduceSum', ['pool_kept', const('pool_axes0', np.array([0]))], ['pool_sum'],
                keepdims=0),
           node('Cast', ['pool_len'], ['pool_len_f'], to=1),
           node('Unsqueeze', ['pool_len_f', const('pool_axes_b', np.array([1]))], ['pool_n']),
           node('Div', ['pool_sum', 'pool_n'], [out])] if pool == 'mean' else
          [node('Where', ['pool_mask', steps, const('pool_fill', np.array(-np.inf, np.float32))],
                ['pool_kept']),
           node('ReduceMax', ['pool_kept'], [out], axes=[0], keepdims=0)]),
    ]


def export(model, path, fmt=None):
    """Write ``model`` to ``path`` as ``fmt`` (default: from the extension,
    .onnx or .npz); return the line that says what was written."""
    fmt = fmt or {'.onnx': 'onnx', '.npz': 'torch'}.get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise ExportError('cannot tell the export format from OUT: add --format onnx or torch')
    if fmt == 'torch' and not path.endswith('.npz'):
        raise ExportError('--format torch writes a numpy .npz state dict: name OUT like model.npz')
    (export_onnx if fmt == 'onnx' else export_torch)(model, path)
    write_tokenizer(model, path)
    extra = f', {sidecar_path(path)}' if fmt == 'torch' else ''
    return (f'wrote {path}{extra} and {tokenizer_path(path)} ({fmt}, {model.spec.cell} '
            f'x{model.spec.layers}, hidden {model.spec.hidden})')


def export_onnx(model, path):
    try:
        import onnx
    except ImportError:
        raise ExportError('--format onnx needs the onnx package: pip install "mr_rnn[onnx]"') from None
    proto = onnx_model(model)
    onnx.checker.check_model(proto)
    write_atomic(path, proto.SerializeToString())


# ── PyTorch state dict ──

def export_torch(model, path):
    """OUT.npz: the state dict, named as torch names it; OUT.json: the facts."""
    facts = dict(model_facts(model),
                 torch=(('embedding = torch.nn.Embedding(input_size, embed); '
                         if model.spec.embed else '') +
                        f'rnn = torch.nn.{TORCH_MODULE[model.spec.cell]}('
                        f'{"embed" if model.spec.embed else "input_size"}, hidden, layers, '
                        'batch_first=True); head = torch.nn.Linear(hidden, output_size)'))
    write_state_dict(path, model.params, facts)
