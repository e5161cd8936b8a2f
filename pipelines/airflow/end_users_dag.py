"""Nightly end-user ETL: extract each vendor, resolve identities, write back.

One extract task per source, each in its own Airflow pool (so one vendor's
rate limit or outage never holds up another's slot) and with its own retries:
a retry re-extracts only that source. `resolve` waits for every extract and
refuses to run while any source's staging for the date is incomplete;
`writeback` runs last. Every task passes Airflow's `{{ ds }}` as --run-date,
so the DAG works unchanged for backfills (`airflow dags backfill` on Airflow
2, `airflow backfill create` on Airflow 3): each stage is idempotent per
date and skips work already done for it (add --force to redo).

The last stdout line of every task is etl's JSON summary, which
BashOperator pushes to XCom.

When `resolve` fails on the volume guard ("volume guard: dixa extracted 400
records against 1000 rows on …"), and the drop is real, delete that date's
failed DAG run (Airflow keeps one run per logical date) and trigger the DAG
for that date with the config {"accept_drop": "dixa"} (sources separated by
commas): the extracts find their staging and skip, that run's `resolve`
passes --accept-drop for them, and no other run does. The value reaches etl
through an environment variable, never through the shell's parsing, and
must be source names.

Settings (environment of the scheduler/workers):
  ETL_BIN        path of the etl binary                (default: etl)
  ETL_PIPELINE   path of the pipeline file             (default below)
  ETL_SOURCES    comma-separated sources of the file   (default: the four vendors)
Vendor credentials are read by the pipeline file from the environment
(PLANHAT_API_TOKEN, DIXA_API_TOKEN, MOESIF_MANAGEMENT_TOKEN,
MOESIF_APPLICATION_ID, USERLOT_API_KEY).
"""

import os
from datetime import datetime, timedelta

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

try:  # Airflow 3
    from airflow.sdk.definitions.param import Param
except ImportError:  # Airflow 2
    from airflow.models.param import Param

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

ETL = os.environ.get("ETL_BIN", "etl")
PIPELINE = os.environ.get("ETL_PIPELINE", "/opt/etl/pipelines/end_users.yaml")
SOURCES = [s for s in os.environ.get("ETL_SOURCES", "planhat,dixa,moesif,userlot").split(",") if s]

RUN = f"{ETL} run {PIPELINE} --run-date {{{{ ds }}}}"

default_args = {
    "owner": "data-platform",
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(hours=3),
}

with DAG(
    dag_id="end_users",
    description="End users from Planhat, Dixa, Moesif and Userlot, resolved into one table",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["etl", "end_users"],
    params={
        "accept_drop": Param(
            "",
            type="string",
            pattern=r"^([A-Za-z0-9_-]+(,[A-Za-z0-9_-]+)*)?$",
            description="Sources whose drop in records the volume guard lets through for this run only, e.g. dixa,moesif",
        ),
    },
) as dag:
    extracts = [
        BashOperator(
            task_id=f"extract_{source}",
            bash_command=f"{RUN} --stage extract --only {source}",
            pool=f"etl_{source}",
        )
        for source in SOURCES
    ]
    resolve = BashOperator(
        task_id="resolve",
        bash_command=f"{RUN} --stage resolve" + ' ${ETL_ACCEPT_DROP:+--accept-drop "$ETL_ACCEPT_DROP"}',
        env={"ETL_ACCEPT_DROP": "{{ params.accept_drop }}"},
        append_env=True,
    )
    writeback = BashOperator(task_id="writeback", bash_command=f"{RUN} --stage writeback", retries=1)

    extracts >> resolve >> writeback
