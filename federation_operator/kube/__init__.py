"""Every Kubernetes API call: the host cluster (status writes, Secrets, the leader Lease) and the members
(clients from credential Secrets, the raw request path and its one error classification, shared list+watch
informers, Service writes, probes).

May import: ``domain``, ``planning`` (to turn raw objects into domain values). Never ``controllers``,
``dns`` or ``cli``. The functions here are synchronous; async callers use ``asyncio.to_thread``, and each
informer runs in a thread of its own.
"""
