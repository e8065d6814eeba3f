"""Model training, registry, validation gate and rollback (no dagster imports).

Kept empty on purpose: asset bodies import ``mlops_assets.ml.training`` /
``.registry`` / ``.gate`` lazily, so loading the Dagster definitions never pays
for mlflow, scikit-learn or matplotlib.
"""
