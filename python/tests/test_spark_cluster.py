"""A real Spark standalone cluster on 127.0.0.1: one master and one worker
started with `spark-class` from the pyspark package, 1,000,000 rows scored
through it by oddity.spark.score, every score compared with the CLI's. The
master and the worker are stopped at the end, whatever happens."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark")
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

import oddity  # noqa: E402
import oddity.spark  # noqa: E402
from conftest import N_FEATURES, cli_scores, make_rows, write_csv  # noqa: E402
from spark_compare import compare  # noqa: E402

ROWS = 1_000_000
FEATURES = [f"f{j}" for j in range(N_FEATURES)]
SCHEMA = T.StructType([T.StructField("id", T.LongType())] + [T.StructField(c, T.FloatType()) for c in FEATURES])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(p: subprocess.Popen) -> None:
    """SIGTERM to the process group (spark-class execs java in it), SIGKILL
    after 20 s."""
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=20)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=20)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    spark_home = os.path.dirname(pyspark.__file__)
    tmp = tmp_path_factory.mktemp("spark-cluster")
    env = dict(
        os.environ,
        SPARK_HOME=spark_home,
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_WORKER_DIR=str(tmp / "work"),
        SPARK_LOG_DIR=str(tmp / "logs"),
        PYSPARK_PYTHON=sys.executable,
    )
    port, ui, worker_ui = free_port(), free_port(), free_port()
    spark_class = os.path.join(spark_home, "bin", "spark-class")
    url = f"spark://127.0.0.1:{port}"
    procs, logs = [], {}

    def start(name, *args):
        logs[name] = tmp / f"{name}.log"
        out = open(logs[name], "wb")
        p = subprocess.Popen([spark_class, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(p)
        return p

    try:
        start("master", "org.apache.spark.deploy.master.Master",
              "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui))
        start("worker", "org.apache.spark.deploy.worker.Worker",
              "--host", "127.0.0.1", "--cores", "2", "--memory", "3g", "--webui-port", str(worker_ui), url)
        deadline = time.time() + 120
        alive = 0
        while time.time() < deadline:
            for p in procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[1]} exited: {logs_tail(logs)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as r:
                    alive = json.load(r).get("aliveworkers", 0)
            except OSError:
                alive = 0
            if alive >= 1:
                break
            time.sleep(1)
        if alive < 1:
            raise RuntimeError(f"no worker registered in 120 s: {logs_tail(logs)}")
        yield url
    finally:
        for p in reversed(procs):
            stop(p)


def logs_tail(logs) -> str:
    return "\n".join(f"--- {n}:\n" + p.read_text(errors="replace")[-2000:] for n, p in logs.items() if p.exists())


@pytest.fixture(scope="module")
def spark(cluster):
    # The Python the executors start: this one, where oddity is installed
    # (the driver sends it with each task).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    s = (
        SparkSession.builder.master(cluster)
        .appName("oddity-test-standalone")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.executor.memory", "2g")
        .config("spark.executor.cores", "2")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def test_a_million_rows_on_a_standalone_cluster_match_the_cli(spark, cluster, fitted, work):
    assert spark.sparkContext.master == cluster
    path = fitted("aegmm")
    csv = write_csv(work / "million.csv", make_rows(ROWS, seed=21, outliers=0.01), with_id=True)
    t0 = time.perf_counter()
    want, want_flags = cli_scores(path, csv, "--label-column", "id")
    cli_s = time.perf_counter() - t0
    df = spark.read.csv(str(csv), header=True, schema=SCHEMA)
    t0 = time.perf_counter()
    rows = oddity.spark.score(df, path, FEATURES).select("id", "score", "is_outlier").toArrow()
    spark_s = time.perf_counter() - t0
    assert rows.num_rows == ROWS
    identical = compare(
        rows["id"].to_numpy(), rows["score"].to_numpy(), rows["is_outlier"].to_numpy(zero_copy_only=False),
        want, want_flags, oddity.load(path).threshold,
    )
    # The executors ran on the worker, not in this process.
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    print(f"standalone: {ROWS} rows, {identical} scores bitwise identical to the CLI's, "
          f"{executors - 1} executor(s); cluster {spark_s:.1f} s, CLI {cli_s:.1f} s")
    assert executors >= 2
