"""What the operator tells the outside: Prometheus metrics, Kubernetes events (once per distinct message),
and the HTTP endpoints serving metrics and a standby replica's health.

May import: ``domain`` only.
"""
