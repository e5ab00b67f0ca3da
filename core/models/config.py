"""Configuration generations (``core.config_version``): one row per scope (the global
defaults, a tenant's configuration, the API credentials), whose number moves on with every
change, so every process can tell in one cheap query whether what it cached is still current."""

from __future__ import annotations

from django.db import models


class ConfigGeneration(models.Model):
    scope = models.CharField(max_length=64, primary_key=True)
    value = models.BigIntegerField()

    class Meta:
        db_table = "core_configgeneration"  # written in core.config_version's SQL
        verbose_name = "configuration generation"
        # a process's check reads the rows that moved since its last check: value > seen
        indexes = [models.Index(fields=["value"], name="config_generation_value")]

    def __str__(self) -> str:
        return f"{self.scope} @ {self.value}"
