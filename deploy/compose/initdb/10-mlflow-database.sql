-- Runs once, when the postgres volume is first initialised: MLflow's backend store gets its
-- own database next to Dagster's (POSTGRES_DB), owned by the same role.
CREATE DATABASE mlflow;
