"""The controllers: the work queue, the member cache fed by the member informers, the MemberCluster
supervisor, the FederatedService reconcile (observe → plan → apply → status) and the shutdown gate.

May import: ``domain``, ``planning``, ``observability``, ``kube``, ``dns``. Never kopf: the handlers
(``federation_operator.handlers``) are the only kopf wiring, and they call into here.
"""
