"""Start-up: settings → host client → kopf.run.

Usage: python -m federation_operator [--config FILE] [--verbose]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import kopf

from federation_operator import handlers
from federation_operator.errors import PermanentError
from federation_operator.host import build_host_client
from federation_operator.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="federation-operator", description=__doc__)
    parser.add_argument("--config", type=Path, help="YAML settings file (also: FEDOP_CONFIG_FILE)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    logging.getLogger("federation_operator").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    # kopf logs every watch-event handler call at INFO; what matters is logged by our code (and posted
    # as events), so kopf's per-object chatter is kept to warnings.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    try:
        settings = load_settings(args.config)
        host_api = build_host_client(settings.kubeconfig, settings.host_context)
    except SettingsError as exc:
        print(f"federation-operator: {exc}", file=sys.stderr)
        return 2
    except PermanentError as exc:
        print(f"federation-operator: {exc}", file=sys.stderr)
        return 2
    memo = kopf.Memo(runtime=handlers.Runtime(settings=settings, host_api=host_api))
    kopf.run(
        clusterwide=True,
        standalone=settings.standalone,
        memo=memo,
        liveness_endpoint=f"http://0.0.0.0:{settings.liveness_port}/healthz"
        if settings.liveness_port
        else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
