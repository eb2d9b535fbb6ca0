"""Training and serving code imports without Spark, XGBoost or MLflow: a GPU training machine (see
bench/training_gpu.py) or a model server need not have them.  A new import of features.build (the
Spark job) or of XGBoost at module level in a trainer's import chain breaks this."""

from __future__ import annotations

import subprocess
import sys

# what bench/training_gpu.py imports on the GPU machine
SPARK_FREE = ["training.passing", "training.passing_model", "training.ghosting", "training.ghosting_model",
              "training.ghosting_data", "features.config", "features.sequences", "evaluation.ghosting_metrics"]
HEAVY = ("pyspark", "xgboost", "mlflow")


def test_trainers_import_without_spark_xgboost_or_mlflow():
    code = ("import sys\n"
            f"for m in {SPARK_FREE!r}: __import__(m)\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"imported: {out.stdout.strip()}"


def test_the_check_sees_a_heavy_import():
    # the check above can fail: importing the Spark job pulls PySpark in
    code = "import sys, features.build; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr
