"""Where an iteration's time goes: cProfile of one inline iteration (LSTM, a
small shard) on one gradient thread -- cProfile sees only the thread it runs
in; with the pool, the time would be the main thread's wait for its workers --
and the functions with the most time of their own, so that an unmet target
shows where its time went. It informs; there is no target."""
import cProfile
import os
import pstats

from measure import heading
from paths import ROOT
from shards import gradient_job, make_checkpoint, make_shard

TOP = 15


def place(path, line, func):
    """A profile row's function, with its file relative to the repository."""
    if path == '~':
        return func
    shown = os.path.relpath(path, ROOT) if path.startswith(ROOT) else os.path.basename(path)
    return f'{shown}:{line} {func}'


def measure(ctx):
    size = 20_000 if ctx.smoke else 60_000
    hidden = 16 if ctx.smoke else 256
    data = make_shard(os.path.join(ctx.work, 'profile.txt'), size)
    job = gradient_job(make_checkpoint(ctx.work, data, 'lstm', hidden), [data], ['-r', 'inline'],
                       ['--threads', '1'])
    job()
    profile = cProfile.Profile()
    profile.runcall(job)
    stats = pstats.Stats(profile)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:TOP]
    return {'bytes': size, 'hidden': hidden, 'total_s': stats.total_tt,
            'rows': [{'where': place(*key), 'calls': calls, 'own_s': tottime,
                      'share': tottime / stats.total_tt}
                     for key, (_, calls, tottime, _, _) in rows]}


def targets(r):
    return []


def markdown(r):
    return heading('Profile of one inline iteration') + [
        f"cProfile, LSTM {r['hidden']}, {r['bytes']} B text shard, {r['total_s']:.2f} s "
        f'in all, one gradient thread (profiled, so slower than above). Own time, top {TOP}:',
        '', '| function | calls | own s | share |', '|---|---|---|---|'] + [
        f"| `{x['where']}` | {x['calls']} | {x['own_s']:.3f} | {100 * x['share']:.1f} % |"
        for x in r['rows']]
