#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up (idempotent), lint, type check, then every test tier
# (unit, adapter and end-to-end tests against the local federation, which the tests start and stop).
# Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash hack/setup.sh

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy
echo "== import-linter (the package's layers)"
.venv/bin/lint-imports --no-cache
echo "== pytest"
set +e
.venv/bin/pytest "$@"
rc=$?
set -e
if [[ $rc == 5 ]]; then
  echo "test: pytest collected no tests; that is a failure here" >&2
  exit 1
fi
exit $rc
