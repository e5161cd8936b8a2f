"""Loads a DAG file with the Airflow stand-in and prints its tasks in an
order that respects dependencies, as JSON: [{task_id, command, upstream, pool}],
with {{ ds }} rendered as the date given.

usage: python3 dag_commands.py DAG_FILE YYYY-MM-DD
"""
import importlib.util
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "stub"))
import airflow  # noqa: E402  (the stand-in)

dag_file, ds = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("dag_under_test", dag_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)

tasks = {t.task_id: t for t in airflow.TASKS}
order, done = [], set()
while len(order) < len(tasks):
    ready = sorted(t for t in tasks if t not in done and all(u in done for u in tasks[t].upstream))
    if not ready:
        sys.exit("the DAG has a cycle")
    for t in ready:
        order.append(t)
        done.add(t)

print(json.dumps([
    {
        "task_id": t,
        "command": tasks[t].bash_command.replace("{{ ds }}", ds),
        "upstream": tasks[t].upstream,
        "pool": tasks[t].kwargs.get("pool", ""),
    }
    for t in order
]))
