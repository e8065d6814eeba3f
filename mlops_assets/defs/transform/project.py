"""The dbt project as Dagster sees it, and preparing its manifest."""


import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from mlops_assets.settings import DBT_PROJECT_DIR, get_settings

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target=get_settings().dbt_target,
)
# `dagster dev` re-parses on start; everywhere else the manifest comes from
# `make manifest` (development, tests) or the image build (Dockerfile).
dbt_project.prepare_if_dev()


def manifest_is_stale(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    manifest = project_dir / "target" / "manifest.json"
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    watched = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds", "snapshots"):
        watched += list((project_dir / folder).rglob("*"))
    return any(p.is_file() and p.stat().st_mtime > built for p in watched)


def prepare_manifest(force: bool = False) -> Path:
    """Run ``dbt parse`` when the manifest is missing or older than the project's files."""
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    if force or manifest_is_stale():
        dbt = Path(sys.executable).with_name("dbt")
        subprocess.run(
            [str(dbt), "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(DBT_PROJECT_DIR), "--target", get_settings().dbt_target],
            check=True,
            cwd=DBT_PROJECT_DIR,
            env={**__import__("os").environ, **get_settings().dbt_env()},
        )
    return manifest


if __name__ == "__main__":
    print(prepare_manifest(force="--force" in sys.argv))
