"""The only reader of data files: CSV tables -> typed arrays, with checks that name the file
and column (tables.py), and the loaders that turn a scenario into the stages' inputs."""

from .tables import (AGES, REGION, SEXES, check_range, population_in_year, read_csv,
                     read_e0_history, read_fertility, read_migration, read_mortality,
                     read_population_history, read_sex_ratio, region_sex_age_array,
                     regional_population, sex_age_array)

__all__ = ["AGES", "REGION", "SEXES", "check_range", "population_in_year", "read_csv",
           "read_e0_history", "read_fertility", "read_migration", "read_mortality",
           "read_population_history", "read_sex_ratio", "region_sex_age_array",
           "regional_population", "sex_age_array"]
