import dagster as dg

from mlops_assets.defs.transform import assets

defs = dg.Definitions(assets=[assets.dbt_staging_models, assets.dbt_daily_models])
