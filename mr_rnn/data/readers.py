"""The reader of each format, for what a job reads: a line at a time (text,
jsonl) or whole files (csv: a series, or a table of documents), into
sequences for the model jobs or into facts for the describe pass."""
import functools

from mr_rnn.data.csv_series import CsvReader, facts_records
from mr_rnn.data.documents import TableReader, table_facts_records, token_settings
from mr_rnn.data.jsonl import JsonlReader, jsonl_facts
from mr_rnn.data.text import TextReader, text_facts

LINE_FORMATS = ('text', 'jsonl')
LINE_FACTS = {'text': text_facts, 'jsonl': jsonl_facts}


def line_reader(schema, data_config):
    """The per-line reader of a line format: raw bytes -> list of Sequence."""
    if schema.format == 'text':
        return TextReader(schema, data_config.seq_len).sequences
    if schema.format == 'jsonl':
        return JsonlReader(schema, data_config.max_ids, data_config).sequences
    raise ValueError(f'{schema.format} is not a line format')


def file_reader(schema, data_config, horizon=None):
    """The reader of a whole-file format: (lines, uri) -> task_input.Records of
    its windows, or of its documents. ``horizon`` 0: windows without targets,
    documents without labels (predict)."""
    horizon = data_config.horizon if horizon is None else horizon
    if data_config.documents:
        return TableReader(schema, data_config, targets=horizon != 0).records
    return CsvReader(schema, data_config.window, horizon).records


def facts_reader(fmt, max_ids=None, data_config=None):
    """(per-line facts, whole-file facts records) of the describe pass; jsonl
    ids must be below ``max_ids`` (--max-ids). ``data_config``: the fields,
    columns and tokens of the data (default: a series, "x" and "y", characters)."""
    if data_config is not None and data_config.documents:
        return None, functools.partial(table_facts_records, data=data_config)
    if fmt == 'jsonl':
        return functools.partial(jsonl_facts, max_ids=max_ids, data=data_config), facts_records
    if fmt == 'text' and data_config is not None:
        return (functools.partial(text_facts, settings=token_settings(data_config, 'text')),
                facts_records)
    return LINE_FACTS.get(fmt), facts_records
