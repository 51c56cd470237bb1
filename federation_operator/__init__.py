"""federation-operator: federates Services across Kubernetes clusters and publishes geo-tiered DNS.

The data takes one straight path: FederatedService + MemberClusters → desired member Services → shards seen in
members → health snapshot → desired record sets → diff against owned records → provider changes.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"
