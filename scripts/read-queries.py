#!/usr/bin/env python3
"""How a catalog reads a list of shoppers' queries, one JSON line per query (stdlib only).

Usage: scripts/read-queries.py CATALOG_DIR QUERIES [--models-dir DIR] [--vitrine BIN] [-k K]
  (defaults: ../shared/models, target/release/vitrine, 5)

QUERIES: a text file of one query per line, or a CSV or tab-separated file with a header that has
a "query" column (WANDS' dataset/query.csv, Wayfair's 480 real shoppers' queries, is one). For
each query it runs `vitrine search --json` and prints what was read as another word (`spelling`:
typos, shades, words run together), the words no product has (`unknown`), the phrases read as a
price, a "not" or an order (`read`), the count of strong matches, and the top K titles with their
categories. Comparing two builds' outputs with `diff` shows what a change to query reading does to
real queries without labels.
"""

import argparse
import csv
import json
import subprocess
import sys


def queries(path):
    with open(path, newline="", encoding="utf-8") as f:
        first = f.readline()
        f.seek(0)
        if "\t" in first or "," in first:
            dialect = "excel-tab" if "\t" in first else "excel"
            rows = csv.DictReader(f, dialect=dialect)
            if rows.fieldnames and "query" in rows.fieldnames:
                return [r["query"].strip() for r in rows if r["query"].strip()]
            f.seek(0)
        return [line.strip() for line in f if line.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("catalog")
    p.add_argument("queries")
    p.add_argument("--models-dir", default="../shared/models")
    p.add_argument("--vitrine", default="target/release/vitrine")
    p.add_argument("-k", type=int, default=5)
    a = p.parse_args()
    for q in queries(a.queries):
        cmd = [a.vitrine, "--models-dir", a.models_dir, "--catalog", a.catalog]
        out = subprocess.run(cmd + ["search", q, "-k", str(a.k), "--json"], capture_output=True, text=True)
        if out.returncode != 0:
            print(json.dumps({"query": q, "error": out.stderr.strip()[-300:]}), flush=True)
            continue
        d = json.loads(out.stdout)
        print(
            json.dumps(
                {
                    "query": q,
                    "spelling": [f'{s["typed"]} -> {s["read"]}' for s in d["spelling"]],
                    "unknown": d["unknown"],
                    "read": [f'{r["kind"]}: {r["phrase"]}' for r in d["read"]],
                    "strong": d["strong"],
                    "top": [f'{h["title"]} | {h.get("category", "")}' for h in d["hits"]],
                },
                ensure_ascii=False,
            ),
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
