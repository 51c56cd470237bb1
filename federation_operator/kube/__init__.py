"""Every Kubernetes API call, the operator's and ``fedctl``'s: the host cluster (status writes, Secrets, the
leader Lease) and the members (clients from credential Secrets, shared list+watch informers, Service writes,
probes), and the request path of fedctl's clusters (its client, ``cli/rest.py``, is built from a kubeconfig
context by the kubernetes client library, which the operator itself never loads).

``client`` says how a cluster is reached (``ClusterClient``); ``errors`` is the one classification of API
failures (429 and every 5xx transient, after ``Retry-After``; connection failures transient; the rest
permanent); ``transport`` the one raw request path; ``kubeconfig`` reads kubeconfigs as kubectl does.

May import: ``domain``, ``planning`` (to turn raw objects into domain values). Never ``controllers``,
``dns``, ``cli``, ``handlers``, ``settings`` or ``observability``. Most functions here are synchronous (async
callers use ``asyncio.to_thread``); the operator's own requests run on the event loop through
``async_transport``, and so do the informers, the members' and the host's (``async_informer``).
"""
