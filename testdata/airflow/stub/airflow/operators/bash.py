import airflow


def _as_list(x):
    return x if isinstance(x, (list, tuple)) else [x]


class BashOperator:
    def __init__(self, task_id, bash_command, **kwargs):
        if not airflow._current:
            raise RuntimeError("task %s defined outside a DAG" % task_id)
        self.task_id = task_id
        self.bash_command = bash_command
        self.kwargs = kwargs
        self.upstream = []
        airflow.TASKS.append(self)

    def __rshift__(self, other):
        for o in _as_list(other):
            o.upstream.append(self.task_id)
        return other

    def __rrshift__(self, other):
        for o in _as_list(other):
            self.upstream.append(o.task_id)
        return self
