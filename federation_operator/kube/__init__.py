"""Every Kubernetes API call, the operator's and ``fedctl``'s: the host cluster (status writes, Secrets, the
leader Lease) and the members (clients from credential Secrets, shared list+watch informers, Service writes,
probes), and fedctl's clusters reached through kubeconfig contexts.

``errors`` is the one classification of API failures (429 and every 5xx transient, after ``Retry-After``;
connection failures transient; the rest permanent); ``transport`` the one raw request path; ``rest`` and
``kubeconfig`` the JSON client and kubeconfig reading fedctl uses.

May import: ``domain``, ``planning`` (to turn raw objects into domain values). Never ``controllers``,
``dns``, ``cli``, ``handlers``, ``settings`` or ``observability``. Most functions here are synchronous (async
callers use ``asyncio.to_thread``); the operator's own requests run on the event loop through
``async_transport``, and so do the informers, the members' and the host's (``async_informer``).
"""
