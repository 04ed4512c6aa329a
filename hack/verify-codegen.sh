#!/usr/bin/env bash
# Fails when the generated code is stale: runs hack/update-codegen.sh on a copy of the tree and
# compares the copy's generated files with ours.
set -o errexit -o nounset -o pipefail

SCRIPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP_ROOT=$(mktemp -d)
trap 'rm -rf "${TMP_ROOT}"' EXIT

# A copy without build output or VCS data; the module cache is shared.
tar -C "${SCRIPT_ROOT}" --exclude=./_output --exclude=./.git -cf - . | tar -C "${TMP_ROOT}" -xf -
(cd "${TMP_ROOT}" && bash hack/update-codegen.sh >/dev/null)

status=0
for path in pkg hack/api-rule-violations.list; do
  if ! diff -Naupr "${SCRIPT_ROOT}/${path}" "${TMP_ROOT}/${path}"; then
    status=1
  fi
done
if [[ ${status} -ne 0 ]]; then
  echo "Generated code is out of date: run hack/update-codegen.sh (make update-codegen)." >&2
  exit 1
fi
echo "Generated code is up to date."
