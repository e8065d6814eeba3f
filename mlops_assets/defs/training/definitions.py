import dagster as dg

from mlops_assets.defs.training import assets

defs = dg.Definitions(
    assets=[assets.training_set, assets.delay_model, assets.model_gate, assets.flight_predictions],
    jobs=[assets.train_model_job],
)
