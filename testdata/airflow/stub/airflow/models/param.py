class Param:
    """A DAG parameter: its default, and the JSON-schema keywords Airflow
    validates a trigger's value against (only `type` and `pattern` here)."""

    def __init__(self, default=None, **schema):
        self.default = default
        self.schema = schema
