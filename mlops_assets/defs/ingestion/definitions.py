import dagster as dg

from mlops_assets.defs.ingestion import assets, sensors

defs = dg.Definitions(
    assets=[*assets.daily_raw_assets, *assets.reference_raw_assets],
    jobs=[sensors.ingest_daily_job, sensors.ingest_reference_job, sensors.quarantine_landing_file,
          sensors.replay_next_day],
    sensors=[sensors.landing_sensor],
    schedules=[sensors.replay_schedule],
)
