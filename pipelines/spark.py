"""The one Spark session factory: master and sizing from `conf/trackflow.yaml` (section `spark`).

Local mode by default (``local[*]``); pointing ``spark.master`` at a cluster is the only change
needed to scale out.  The driver binds to 127.0.0.1 and the web UI is off, so a pipeline run opens
no port beyond this machine.
"""

from __future__ import annotations

import os
import shutil

from pipelines.config import Settings


class JavaMissingError(RuntimeError):
    """Spark needs a Java 17+ runtime."""


def get_spark(settings: Settings, app_name: str = "trackflow"):
    """Return the (shared) SparkSession configured from ``settings.spark``."""
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        raise JavaMissingError("Spark needs Java 17 or newer and 'java' is not on the PATH "
                               "(Debian/Ubuntu: apt-get install -y openjdk-17-jre-headless), or set JAVA_HOME")
    from pyspark.sql import SparkSession

    cfg = settings.spark
    builder = (
        SparkSession.builder.master(cfg.master)
        .appName(app_name)
        .config("spark.driver.memory", cfg.driver_memory)
        .config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.adaptive.enabled", "true")
        # (no Parquet write settings: Spark writes no files; lake.write_spark_files takes its rows as Arrow)
    )
    if cfg.master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    for key, value in cfg.conf.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))  # YAML false: "false"
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
