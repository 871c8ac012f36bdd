"""A field that is a flag, and the one check of what it accepts.

A configuration field is a ``mr-rnn train`` flag when its metadata says so
(``option``): its help (cli.py adds the default from the field), its help
section, metavar, whether ``--resume`` may change it, its name when not the
field's, and what it accepts: choices, bounds, a safety limit. Each section's
``__post_init__`` calls ``check_fields``, which enforces them, so each is
stated once, in the field; a check that relates two fields is written out in
its section. A message names the field as the user does: by its flag
(``flag_of``). Task side: Python 3.8+ (docs/design.md §7).
"""
import dataclasses
import operator

from mr_rnn.errors import MrRnnError


class ConfigError(MrRnnError, ValueError):
    """A configuration that cannot work; the message names the fix."""


# a number's bounds, as option() takes them: low (at_least, above) and high
# (at_most, below); an int field takes at_least only
BOUNDS = {'at_least': operator.ge, 'above': operator.gt, 'at_most': operator.le,
          'below': operator.lt}


def option(default, help, group=None, choices=None, metavar=None, resumable=False, name=None,
           limit=None, nullable=False, **bounds):
    """A field that is a ``mr-rnn train`` flag: its default and, in its
    metadata, the flag: ``--name`` (the field's name with dashes, unless
    ``name``), the help without the default (cli.py adds it from the field),
    its help section (``group``; default: its section's), whether ``--resume``
    may change it; and what it accepts, which ``check_fields`` enforces:
    ``choices``, ``bounds`` (``BOUNDS``), a safety ``limit`` (limits.py).
    ``nullable``: None passes too, though the default is not None (a value
    that configurations written by earlier versions hold)."""
    unknown = sorted(set(bounds) - set(BOUNDS))
    if unknown:
        raise TypeError(f'option() takes no {", ".join(unknown)}')
    meta = {'help': help, 'group': group, 'choices': choices, 'metavar': metavar,
            'resumable': resumable, 'name': name, 'bounds': bounds or None, 'limit': limit,
            'nullable': nullable or None}
    return dataclasses.field(default=default,
                             metadata={k: v for k, v in meta.items() if v is not None})


def check_fields(config):
    """Refuse a value outside its field's choices, bounds or safety limit, in
    one line naming the flag. None passes where it is the default (not given)
    or the field is ``nullable``."""
    for f in dataclasses.fields(config):
        value, meta = getattr(config, f.name), f.metadata
        if not meta or (value is None and (f.default is None or meta.get('nullable'))):
            continue
        if 'choices' in meta and value not in meta['choices']:
            raise ConfigError(f'{flag_of(config, f.name)} {value!r} is not one of: '
                              f'{", ".join(meta["choices"])}')
        bounds = meta.get('bounds', {})
        number = isinstance(value, int) if f.type is int else isinstance(value, (int, float))
        if bounds and not (number and all(BOUNDS[k](value, b) for k, b in bounds.items())):
            raise ConfigError(f'{flag_of(config, f.name)} must be {_words(f.type, bounds)}, '
                              f'got {value!r}')
        if 'limit' in meta:
            at_most(config, f.name, value, meta['limit'])


def _words(kind, bounds):
    """Bounds as a message says them: 'an integer of at least 1', 'positive',
    'above 1', 'between 0 and 1', 'in (0, 10]'."""
    low = bounds.get('at_least', bounds.get('above'))
    high = bounds.get('at_most', bounds.get('below'))
    if high is None and 'at_least' in bounds:
        return f'{"an integer" if kind is int else "a number"} of at least {low}'
    if high is None:
        return 'positive' if low == 0 else f'above {low}'
    if low is None:
        return f'{"at most" if "at_most" in bounds else "below"} {high}'
    if 'at_least' in bounds and 'at_most' in bounds:
        return f'between {low} and {high}'
    opening, closing = '[' if 'at_least' in bounds else '(', ']' if 'at_most' in bounds else ')'
    return f'in {opening}{low}, {high}{closing}'


def flag_of(where, name):
    """How a user names field ``name`` of ``where`` (a config class or object):
    its flag when it is one, else the field's own name."""
    cls = where if isinstance(where, type) else type(where)
    meta = next(f for f in dataclasses.fields(cls) if f.name == name).metadata
    if not meta:
        return name
    return '--' + meta.get('name', name).replace('_', '-')


def at_most(config, name, value, high, what=None):
    if value > high:
        raise ConfigError(f'{what or flag_of(config, name)} is {value}, more than the safety '
                          f'limit of {high}: choose a smaller {flag_of(config, name)}')
