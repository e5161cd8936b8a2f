"""Loads a DAG file with the Airflow stand-in and prints its tasks in an
order that respects dependencies, as JSON: [{task_id, command, env,
append_env, upstream, pool}], with their templated fields rendered the way
Airflow renders them: Jinja2 with StrictUndefined (Airflow's default), for
the run date given and a DAG run's config, which overrides the DAG's params
once it validates against their schema.

usage: python3 dag_commands.py DAG_FILE YYYY-MM-DD [CONF_JSON]
"""
import importlib.util
import json
import os
import re
import sys

import jinja2  # the real one (internal/tools/tools.sh installs it)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "stub"))
import airflow  # noqa: E402  (the stand-in)

dag_file, ds = sys.argv[1], sys.argv[2]
conf = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
spec = importlib.util.spec_from_file_location("dag_under_test", dag_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
dag = module.dag

params = {}
for name, p in dag.params.items():
    value = conf.get(name, getattr(p, "default", p))
    schema = getattr(p, "schema", {})
    if schema.get("type") == "string" and not isinstance(value, str):
        sys.exit("conf: %s must be a string" % name)
    if "pattern" in schema and not re.search(schema["pattern"], value):
        sys.exit("conf: %s=%r does not match %s" % (name, value, schema["pattern"]))
    params[name] = value
unknown = set(conf) - set(params)
if unknown:
    sys.exit("conf: unknown keys %s" % sorted(unknown))

env = jinja2.Environment(undefined=jinja2.StrictUndefined)
context = {"ds": ds, "params": params, "dag_run": {"conf": conf}}


def render(value):
    if isinstance(value, str):
        return env.from_string(value).render(**context)
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    return value


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
        "command": render(tasks[t].bash_command),
        "env": render(tasks[t].kwargs.get("env")),
        "append_env": tasks[t].kwargs.get("append_env", False),
        "upstream": tasks[t].upstream,
        "pool": tasks[t].kwargs.get("pool", ""),
    }
    for t in order
]))
