"""Settings, built once at the edge (CLI, UI) and passed inward as explicit arguments."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Flags override ASSISTANT_* environment variables, which override these defaults."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_")

    index_dir: Path = PROJECT_DIR / "index"
    seeds_dir: Path = PROJECT_DIR / "seeds"
    # A never-used index starts by ingesting seeds_dir; turn off for an empty index.
    seed: bool = True
    top_k: int = 5
    # URL fetching: seconds before giving up, and the largest page accepted.
    fetch_timeout: float = 15.0
    max_bytes: int = 20_000_000
