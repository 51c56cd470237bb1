"""Pure planning: placement, overrides, member Services, shard health, DNS records, zone diffs and status,
as plain functions over frozen values.

May import: ``domain`` only. Nothing here does I/O or imports kopf, kubernetes, boto3, google or
dnspython: the controllers feed it what they observed and apply what it returns.
"""
