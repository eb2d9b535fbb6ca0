"""The season simulator: the embedded default data source ``synthetic:``.

Public entry points: :func:`simulate_week` (one week's canonical tables in memory) and
:func:`simulate_to` (weeks written as canonical Parquet or Big Data Bowl CSV).
"""

from pipelines.sources.simulator.season import simulate_game, simulate_to, simulate_week

__all__ = ["simulate_game", "simulate_to", "simulate_week"]
