"""oddity.spark.score on a local[2] Spark session, against the CLI."""

import os
import sys

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark")
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

import oddity  # noqa: E402
import oddity.spark  # noqa: E402
from conftest import N_FEATURES, cli_scores, make_rows, write_csv  # noqa: E402
from spark_compare import compare  # noqa: E402

FEATURES = [f"f{j}" for j in range(N_FEATURES)]
SCHEMA = T.StructType([T.StructField("id", T.LongType())] + [T.StructField(c, T.FloatType()) for c in FEATURES])


@pytest.fixture(scope="module")
def spark():
    os.environ["PYSPARK_PYTHON"] = sys.executable
    s = (
        SparkSession.builder.master("local[2]")
        .appName("oddity-test-local")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


@pytest.mark.parametrize("kind", ["aegmm", "ae", "iforest", "vaegmm"])
def test_local_scores_match_the_cli(spark, fitted, work, kind):
    x = make_rows(60_000, seed=11, outliers=0.02)
    csv = work / "spark-local.csv"
    if not csv.exists():
        write_csv(csv, x, with_id=True)
    path = fitted(kind)
    want, want_flags = cli_scores(path, csv, "--label-column", "id")
    df = spark.read.csv(str(csv), header=True, schema=SCHEMA).repartition(3)
    scored = oddity.spark.score(df, path, FEATURES)
    assert scored.columns == ["id", *FEATURES, "score", "is_outlier"]
    rows = scored.select("id", "score", "is_outlier").toArrow()
    identical = compare(
        rows["id"].to_numpy(), rows["score"].to_numpy(), rows["is_outlier"].to_numpy(zero_copy_only=False),
        want, want_flags, oddity.load(path).threshold,
    )
    print(f"{kind}: {identical} of {len(want)} scores bitwise identical to the CLI's")


def test_double_and_integer_columns_are_cast_to_float32(spark, fitted):
    path = fitted("aegmm")
    x = make_rows(5000, seed=12)
    x[:, 0] = np.round(x[:, 0] * 10)  # an integer column
    pdf = {c: x[:, j].astype(np.float64) for j, c in enumerate(FEATURES)}
    pdf["f0"] = x[:, 0].astype(np.int64)
    import pandas as pd

    df = spark.createDataFrame(pd.DataFrame(pdf)).coalesce(1)
    got = np.array([r["s"] for r in oddity.spark.score(df, path, FEATURES, output_col="s").collect()], np.float32)
    want = oddity.load(path).score(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_empty_input_gives_an_empty_result(spark, fitted):
    df = spark.createDataFrame([tuple([i] + [0.5] * N_FEATURES) for i in range(10)], SCHEMA).filter("id < 0")
    assert oddity.spark.score(df, fitted("aegmm"), FEATURES).count() == 0


def test_nulls_are_an_error_naming_the_column(spark, fitted):
    path = fitted("aegmm")
    rows = [tuple([i] + [0.5] * N_FEATURES) for i in range(10)]
    rows[7] = tuple([7, 0.5, 0.5, None, 0.5, 0.5, 0.5])
    df = spark.createDataFrame(rows, SCHEMA)
    with pytest.raises(Exception, match="feature column 'f2' has 1 null values"):
        oddity.spark.score(df, path, FEATURES).collect()


def test_driver_side_checks(spark, fitted):
    path = fitted("aegmm")
    df = spark.createDataFrame([tuple([0] + [0.5] * N_FEATURES)], SCHEMA)
    with pytest.raises(ValueError, match="fitted on 6 columns, feature_cols has 5"):
        oddity.spark.score(df, path, FEATURES[:5])
    with pytest.raises(ValueError, match="'nope' is not in the DataFrame"):
        oddity.spark.score(df, path, FEATURES[:5] + ["nope"])
    with pytest.raises(ValueError, match="already in the DataFrame"):
        oddity.spark.score(df, path, FEATURES, output_col="f0")
    with pytest.raises(FileNotFoundError):
        oddity.spark.score(df, path.parent / "missing.oddity", FEATURES)
    s = df.withColumn("txt", df["f0"].cast("string"))
    with pytest.raises(ValueError, match="'txt' is string, not numeric"):
        oddity.spark.score(s, path, FEATURES[:5] + ["txt"])


def test_no_threshold_no_flag_column(spark, work, train_csv):
    import pandas as pd

    det = oddity.Detector("ecod").fit(pd.read_csv(train_csv).to_numpy(np.float32))
    path = work / "nothreshold.oddity"
    det.save(path)
    df = spark.createDataFrame([tuple([0] + [0.5] * N_FEATURES)], SCHEMA)
    out = oddity.spark.score(df, path, FEATURES)
    assert out.columns == ["id", *FEATURES, "score"]
    assert out.collect()[0]["score"] == det.score(np.full((1, N_FEATURES), 0.5, np.float32))[0]
