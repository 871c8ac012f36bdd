"""The one check of bad records against --max-bad-fraction, for every job that
reads data: describe and each training round, evaluate, predict (docs/design.md §8.1)."""
from mr_rnn.errors import MrRnnError


class TooManyBadRecords(MrRnnError):
    """More bad records than --max-bad-fraction allows; the message names the first."""


def check_bad_fraction(bad, records, examples, max_fraction, when):
    """Raise TooManyBadRecords when more than ``max_fraction`` of ``records``
    were bad; ``examples`` ('FILE:LINE: reason') name them, ``when`` the pass."""
    if records and bad / records > max_fraction:
        first = examples[0] if examples else ''
        raise TooManyBadRecords(
            f'{bad} of {records} records are bad ({bad / records:.1%}) while {when}, more '
            f'than --max-bad-fraction {max_fraction}; first: {first}')
