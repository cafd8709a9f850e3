"""Runtime settings, read once from the environment (prefix ``HUIKUAN_``)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the ledger is and which time zone the company keeps.

    ``HUIKUAN_DATABASE_URL`` names the ledger (SQLAlchemy URL); the default is a
    SQLite file in the working directory, as CONTRACT.md promises.
    """

    model_config = SettingsConfigDict(env_prefix="HUIKUAN_", extra="ignore")

    database_url: str = "sqlite:///huikuan.db"
    timezone: str = "Asia/Shanghai"
    closed_days: list[dt.date] = Field(
        default_factory=list,
        description="Company closing days (JSON list of ISO dates); also the holidays used for a year whose official calendar is not published yet.",
    )
    data_dir: Path = Path("huikuan-data")
    company_file: Path = Field(default=Path("company.yaml"), description="the company's people, roles and mail settings")
    policy: str = Field(default="handbook", description="the policy the scheduled runs follow: a built-in name or a file")
    retry_delay_seconds: float = Field(default=10.0, ge=0, description="between retries of a failed task")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self) -> dt.date:
        """Today in the company's time zone: the only place that reads the clock."""
        return dt.datetime.now(self.tz).date()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
