import dagster as dg

from mlops_assets.defs.features.assets import flight_features

# the contract check (feature_contract) is one of flight_features' check specs
defs = dg.Definitions(assets=[flight_features])
