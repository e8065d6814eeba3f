import dagster as dg

from mlops_assets.defs.features.assets import feature_contract, flight_features

defs = dg.Definitions(assets=[flight_features], asset_checks=[feature_contract])
