"""Upper bounds on assumptions that are absurd beyond them: a value above its bound is an
input error (a typo, a wrong unit), not a scenario. The README's scenario reference states
them. Each is far above anything observed, so no real scenario comes near.
"""

# children per woman: the highest national TFRs recorded are about 8 (Niger, Yemen)
MAX_TFR = 10.0
# a multiplier of the trend's migration flows (in_level, out_level, component levels,
# existing_stock_inmig_level)
MAX_LEVEL = 10.0
# new dwellings a year in one municipality or area: Norway as a whole completes about
# 30,000 a year, Bærum about 700
MAX_DWELLINGS = 100_000.0
# persons moving into one new dwelling
MAX_PERSONS_PER_DWELLING = 20.0
# NOK per unit a year, or per place built: a 24-hour care place costs about NOK 1.2 million
# a year and NOK 4 million to build
MAX_UNIT_COST = 1e9
# a yearly sd of 0.5 in log unit cost or coverage is a factor of e^(0.5 sqrt(20)) ~ 9 at one
# sd after 20 years: beyond any plan
MAX_SD = 0.5
