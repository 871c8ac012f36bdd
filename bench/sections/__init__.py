"""The sections of bench/run.py, one module each, in three parts:

    measure(ctx)      runs the measurement (ctx: measure.Context); returns
                      plain values (JSON-able: lists, dicts, numbers)
    targets(result)   the rows (target, measured, verdict) of the targets
                      table; none for a section that only informs
    markdown(result)  its part of bench/RESULTS.md: lines, from a heading on

bench/run.py lists them once, in the order they run and are reported.
"""
