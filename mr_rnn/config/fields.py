"""A field that is a flag, and the checks that name it.

A configuration field is a ``mr-rnn train`` flag when its metadata says so
(``option``): its help (cli.py adds the default from the field), its help
section, choices, metavar, whether ``--resume`` may change it, and its name
when not the field's. A check names what is wrong as the user names it: the
flag (``flag_of``). Task side: Python 3.8+ (docs/design.md §7).
"""
import dataclasses

from mr_rnn.errors import MrRnnError


class ConfigError(MrRnnError, ValueError):
    """A configuration that cannot work; the message names the fix."""


def flag(help, group=None, choices=None, metavar=None, resumable=False, name=None):
    """The metadata that makes a field a ``mr-rnn train`` flag: ``--name`` (the
    field's name with dashes, unless ``name``), the help without the default
    (cli.py adds it from the field), its help section, whether ``--resume``
    may change it."""
    meta = {'help': help, 'group': group, 'choices': choices, 'metavar': metavar,
            'resumable': resumable, 'name': name}
    return {k: v for k, v in meta.items() if v is not None}


def option(default, help, **kwargs):
    """A field that is a flag: its default, and ``flag``'s metadata."""
    return dataclasses.field(default=default, metadata=flag(help, **kwargs))


def flag_of(where, name):
    """How a user names field ``name`` of ``where`` (a config class or object):
    its flag when it is one, else the field's own name."""
    cls = where if isinstance(where, type) else type(where)
    meta = next(f for f in dataclasses.fields(cls) if f.name == name).metadata
    if not meta:
        return name
    return '--' + meta.get('name', name).replace('_', '-')


def choice(config, name, choices):
    value = getattr(config, name)
    if value not in choices:
        raise ConfigError(f'{flag_of(config, name)} {value!r} is not one of: {", ".join(choices)}')


def at_least(config, name, low):
    value = getattr(config, name)
    if not isinstance(value, int) or value < low:
        raise ConfigError(f'{flag_of(config, name)} must be an integer of at least {low}, '
                          f'got {value!r}')


def check(config, name, ok, what):
    if not ok:
        raise ConfigError(f'{flag_of(config, name)} must be {what}, got {getattr(config, name)!r}')


def at_most(config, name, value, high, what=None):
    if value > high:
        raise ConfigError(f'{what or flag_of(config, name)} is {value}, more than the safety '
                          f'limit of {high}: choose a smaller {flag_of(config, name)}')
