"""A stand-in for the parts of Airflow the DAG file uses, so a test can load
the DAG exactly as written and read its tasks' command lines (Airflow itself
is not installable here). Only what end_users_dag.py touches exists."""

TASKS = []
_current = []


class DAG:
    def __init__(self, dag_id, params=None, **kwargs):
        self.dag_id = dag_id
        self.params = params or {}
        self.kwargs = kwargs

    def __enter__(self):
        _current.append(self)
        return self

    def __exit__(self, *exc):
        _current.pop()
        return False
