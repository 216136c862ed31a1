"""Build the CONSTRUCTED three-area example in data/baerum/areas/ (see its README.md).

Not data: three areas whose base-year counts split Bærum's real 1.1.2018 counts by fixed
shares per age group, with assumed moves between them and a split of the housing programme.
Run: python scripts/build_area_example.py [data/baerum]
"""

import sys
from pathlib import Path

import pandas as pd

from forecast.inputs import SEXES, population_in_year, read_population_history
from forecast.io.atomic import write_all
from forecast.population.areas import split_largest_remainder
from forecast.population.kernel import N_AGE

EXAMPLE_AREAS = (("sandvika", "Sandvika (konstruert)", 0.20),
                 ("kolsas", "Kolsåsbanen (konstruert)", 0.25),
                 ("resten", "Resten av Bærum (konstruert)", 0.55))
EXAMPLE_SHARES = {(0, 19): (0.12, 0.28, 0.60), (20, 39): (0.22, 0.24, 0.54),
                  (40, 66): (0.14, 0.25, 0.61), (67, 105): (0.13, 0.22, 0.65)}
# movers to the other areas per mid-year resident, and each area's share of all movers
EXAMPLE_MOVES = {"sandvika": (0.035, 0.28), "kolsas": (0.028, 0.28), "resten": (0.013, 0.44)}
EXAMPLE_DWELLINGS = {"sandvika": 180, "kolsas": 175, "resten": 345}   # per year, sum 700


def build_example(population_file, out_dir, base_year: int = 2018,
                  years=(2018, 2038)) -> list[Path]:
    """Write the constructed example: areas.csv, population.csv, moves.csv, housing.csv."""
    base = population_in_year(read_population_history(population_file), base_year,
                              population_file)
    rows = []
    for s, sex in enumerate(SEXES):
        for age in range(N_AGE):
            shares = next(v for (lo, hi), v in EXAMPLE_SHARES.items() if lo <= age <= hi)
            split = split_largest_remainder(int(round(base[s, age])), shares)
            rows += [(code, base_year, sex, age, int(n))
                     for (code, _, _), n in zip(EXAMPLE_AREAS, split)]
    tables = {
        "areas.csv": pd.DataFrame(EXAMPLE_AREAS, columns=["area", "name", "inmig_share"]),
        "population.csv": pd.DataFrame(rows, columns=["area", "year", "sex", "age", "persons"]),
        "moves.csv": pd.DataFrame([(a, r, sh) for a, (r, sh) in EXAMPLE_MOVES.items()],
                                  columns=["area", "out_rate", "in_share"]),
        "housing.csv": pd.DataFrame([(c, y, n) for c, n in EXAMPLE_DWELLINGS.items()
                                     for y in range(years[0], years[1] + 1)],
                                    columns=["area", "year", "dwellings"]),
    }
    out_dir = Path(out_dir)
    return write_all({out_dir / name: (lambda tmp, df=df: df.to_csv(tmp, index=False))
                      for name, df in tables.items()})


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "data/baerum")
    for path in build_example(folder / "population.csv", folder / "areas"):
        print(f"wrote {path}")
