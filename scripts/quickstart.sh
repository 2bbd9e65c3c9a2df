#!/usr/bin/env bash
# Quickstart on a fresh machine: start the service (scripts/start.sh: install,
# local Redis + PostgreSQL, migrate, API and one worker), then train a small
# CPC model and a probe through the HTTP API, register the model, print its
# test accuracy and a prediction. The service stays up afterwards (stop it
# with `npm run stop`; start it again without training with `npm run start`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/start.sh
export PORT=${PORT:-3000} HOST=${HOST:-127.0.0.1}
URL="http://$HOST:$PORT"
export CPC_API_KEY=$(cat .local/api-key)
node --import tsx scripts/quickstart-client.ts "$URL"
echo
echo "cpc-service is running at $URL: the dashboard at $URL/ (paste the key from .local/api-key once), OpenAPI docs at $URL/docs, logs in .local/logs/."
echo "API key (admin scope) for your own calls: .local/api-key, e.g."
echo "  curl -H \"Authorization: Bearer \$(cat .local/api-key)\" $URL/v1/jobs"
echo "Stop it with: npm run stop (and start it again, without training, with: npm run start)"
