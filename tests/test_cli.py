"""The command line's plumbing: flags built from the configuration's fields
(one default, written once), mrjob's options told apart from ours, one error
base turned into one line and an exit code, and imports that run one way."""
import ast
import glob
import os
import re

import pytest

from mr_rnn import cli
from mr_rnn.cli import build_parser, main
from mr_rnn.driver.runner import split_runner_args
from mr_rnn.codec.checkpoint import CheckpointError
from mr_rnn.codec.state_dict import ExportError
from mr_rnn.config import (DEFAULT_LR, ConfigError, OptimizerConfig, TrainConfig, from_options,
                           options)
from mr_rnn.data.records import BadRecord
from mr_rnn.driver.bad_records import TooManyBadRecords
from mr_rnn.driver.run_dir import RunDirError
from mr_rnn.driver.runner import JobFailed
from mr_rnn.driver.train import TrainingStopped
from mr_rnn.errors import MrRnnError, UserError
from mr_rnn.driver.report import ReportError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parsed_config(*flags):
    parser, _ = build_parser()
    args = parser.parse_args(['train', 'x.jsonl', '--out', 'run', *flags])
    return from_options({o.dest: getattr(args, o.dest) for o in options()})


def at(config, dest):
    for part in dest.split('.'):
        config = getattr(config, part)
    return config


# ── a: every default written once, in the configuration ──

def test_no_flags_give_exactly_the_configuration_defaults():
    assert parsed_config() == TrainConfig()


def other_value(option):
    """A valid value of the option other than its default."""
    if option.meta.get('choices'):
        return next(c for c in reversed(option.meta['choices']) if c != option.default)
    if option.type is tuple:
        return ('a', 'b')
    if option.type is int:
        return 2 if option.default is None else option.default + 1
    if option.type is str:          # a name: a field or column of the data
        return 'other'
    return 0.5 if not option.default else option.default / 2


@pytest.mark.parametrize('option', list(options()), ids=lambda o: o.flag)
def test_every_flag_reaches_its_field_of_the_configuration(option):
    value = other_value(option)
    text = ','.join(value) if isinstance(value, tuple) else str(value)
    config = parsed_config(option.flag, text)
    assert at(config, option.dest) == value
    assert at(config, option.dest) != at(TrainConfig(), option.dest)


def test_the_help_names_each_default_as_the_configuration_holds_it(capsys):
    with pytest.raises(SystemExit):
        main(['train', '--help'])
    # one entry per option: its line '  --flag ...' and the deeper-indented lines under it
    entries = {}
    for entry in re.split(r'\n(?=  -)|\n(?=\S)', capsys.readouterr().out):
        words = entry.split()
        if words and words[0].startswith('--'):
            entries[words[0].rstrip(',')] = ' '.join(words)
    for option in options():
        shown = f'(default {option.default})'
        assert (shown in entries[option.flag]) == (option.default not in (None, ())), option.flag
    assert ', '.join(f'{k} {v:g}' for k, v in DEFAULT_LR.items()) in entries['--lr']


def outside(option):
    """A value the option's choices or bounds refuse."""
    if option.meta.get('choices'):
        return 'none-of-these'
    bounds = option.meta['bounds']
    if 'at_least' in bounds:
        return bounds['at_least'] - 1
    return bounds.get('above', bounds.get('at_most', bounds.get('below')))


@pytest.mark.parametrize('option', [o for o in options() if {'choices', 'bounds'} & set(o.meta)],
                         ids=lambda o: o.flag)
def test_every_choice_and_bound_in_a_fields_metadata_is_enforced(option):
    with pytest.raises(ConfigError, match=f'^{option.flag} '):
        from_options({option.dest: outside(option)})


def test_a_flag_is_named_in_the_message_of_its_check():
    with pytest.raises(ConfigError, match='^--outer-lr must be in'):
        from_options({'outer_lr': 20.0})
    with pytest.raises(ConfigError, match='^--hidden must be an integer'):
        from_options({'model.hidden': 0})


def test_the_optimizer_section_names_the_flag_and_its_kernel_knows_no_flags():
    with pytest.raises(ConfigError, match='^--lr must be positive, got -1'):
        OptimizerConfig(lr=-1.0)
    with pytest.raises(ConfigError, match='^--lr must be positive, got -1'):
        from_options({'optimizer.lr': -1.0})
    with pytest.raises(ConfigError, match="^--optimizer 'lion' is not one of"):
        TrainConfig.from_dict({'optimizer': {'name': 'lion'}})
    assert OptimizerConfig(name='sgd').lr == DEFAULT_LR['sgd']
    kernel = open(os.path.join(ROOT, 'mr_rnn', 'kernels', 'optim.py'), encoding='utf-8').read()
    assert not re.findall(r'--[a-z]|\b(?:metadata|metavar|resumable|BadSetting)\b', kernel)


def test_a_bad_lr_on_the_command_line_is_one_line_naming_the_flag(tmp_path, capsys):
    data = tmp_path / 'd.jsonl'
    data.write_text('{"x": [[1.0]], "y": 0}\n')
    assert main(['train', str(data), '--out', str(tmp_path / 'r'), '--lr', '-1']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['mr-rnn: error: --lr must be positive, got -1.0']


def test_a_commands_defaults_are_those_of_the_function_it_calls():
    parser, _ = build_parser()
    sample = parser.parse_args(['sample', 'c.npz'])
    assert (sample.temperature, sample.seed, sample.top_k) == tuple(
        cli.default_of(cli.sample_text, name) for name in ('temperature', 'seed', 'k'))
    predict = parser.parse_args(['predict', 'c.npz', 'x'])
    assert predict.top_k == cli.default_of(cli.predict, 'top_k')
    assert parser.parse_args(['report', 'r']).samples == cli.default_of(cli.write_report, 'samples')


# ── mrjob's options, told apart with mrjob's own parser ──

def test_mrjob_options_and_their_values_go_to_the_runner():
    _, ours = build_parser()
    runner, mine = split_runner_args(
        ['train', 'a.jsonl', '-r', 'hadoop', '--hidden', '4', '--num-cores=2', '-v',
         '--cmdenv', 'A=1', '-Dmapreduce.job.maps=3', '--out', 'run', 'b.jsonl'], ours)
    assert runner == ['-r', 'hadoop', '--num-cores=2', '-v', '--cmdenv', 'A=1',
                      '-Dmapreduce.job.maps=3']
    assert mine == ['train', 'a.jsonl', '--hidden', '4', '--out', 'run', 'b.jsonl']


def test_our_options_their_abbreviations_and_negative_values_stay_ours():
    _, ours = build_parser()
    argv = ['predict', 'c.npz', 'x', '--output', 'o', '--ou', 'p', '--top-k', '3']
    assert split_runner_args(argv, ours) == ([], argv)
    runner, mine = split_runner_args(['train', '--forget-bias', '-1', '-o', 'hdfs:///out'], ours)
    assert runner == ['-o', 'hdfs:///out'] and mine == ['train', '--forget-bias', '-1']


# ── b: one error base, one except, one line ──

@pytest.mark.parametrize('error,code', [
    (UserError, 2), (ConfigError, 2), (BadRecord, 2), (CheckpointError, 2), (RunDirError, 2),
    (TrainingStopped, 2), (TooManyBadRecords, 2), (ExportError, 2), (ReportError, 2),
    (JobFailed, 1)])
def test_every_error_class_is_one_line_and_its_exit_code(monkeypatch, capsys, error, code):
    assert issubclass(error, MrRnnError) and error.exit_code == code

    def fails(args, rest):
        raise error('what went wrong: what to do')
    monkeypatch.setitem(cli.COMMANDS, 'inspect', fails)
    assert main(['inspect', 'x.npz']) == code
    assert capsys.readouterr().err == 'mr-rnn: error: what went wrong: what to do\n'
    with pytest.raises(error):
        main(['--debug', 'inspect', 'x.npz'])


def test_config_and_record_errors_are_still_value_errors():
    # readers and loaders catch ValueError around them
    assert issubclass(ConfigError, ValueError) and issubclass(BadRecord, ValueError)


# ── c: each layer imports downward only ──

def imports(path):
    """The mr_rnn modules a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('mr_rnn'):
            found.add(node.module)
            found.update(f'{node.module}.{a.name}' for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith('mr_rnn'))
    return found


def module_name(path):
    return os.path.relpath(path, ROOT)[:-len('.py')].replace(os.sep, '.').replace('.__init__', '')


MODULES = {module_name(p): imports(p)
           for p in glob.glob(os.path.join(ROOT, 'mr_rnn', '**', '*.py'), recursive=True)}


def test_kernels_import_only_kernels_and_nothing_imports_the_cli():
    for name, imported in MODULES.items():
        if name.startswith('mr_rnn.kernels'):
            assert all(i.startswith('mr_rnn.kernels') for i in imported), (name, imported)
        if name != 'mr_rnn.__main__':
            assert 'mr_rnn.cli' not in imported, name


def test_progress_does_not_import_the_loop_nor_the_loop_the_exporter():
    assert not any(i.startswith('mr_rnn.driver.train') for i in MODULES['mr_rnn.driver.progress'])
    assert not any(i.startswith('mr_rnn.outputs.export') for i in MODULES['mr_rnn.driver.train'])
    assert not any(i.startswith('mr_rnn.driver') for i in MODULES['mr_rnn.inference.predictions'])


def task_side():
    """The modules a map or reduce task imports: the jobs and what they import."""
    seen, todo = set(), [n for n in MODULES if n.startswith('mr_rnn.jobs.')]
    while todo:
        name = todo.pop()
        if name in MODULES and name not in seen:
            seen.add(name)
            todo.extend(MODULES[name])
    return seen


def test_the_task_side_parses_as_python_3_8():
    side = task_side()
    assert {'mr_rnn.config', 'mr_rnn.errors', 'mr_rnn.inference.predictions', 'mr_rnn.model'} <= side
    assert not any(n.startswith(('mr_rnn.driver', 'mr_rnn.cli')) for n in side), side
    for name in side:
        path = os.path.join(ROOT, *name.split('.')) + '.py'
        if not os.path.exists(path):
            path = os.path.join(ROOT, *name.split('.'), '__init__.py')
        ast.parse(open(path).read(), path, feature_version=(3, 8))
