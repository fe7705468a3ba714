#!/bin/sh
# The compose file's one-shot `deploy` service (DEV network). Idempotent: a restart resumes or
# finds everything done (`xgate deploy` keeps a journal beside the config on the volume).
#   1. copy the template config to the shared volume, once;
#   2. migrate the store (PostgreSQL);
#   3. deploy and wire the contracts (retried while the chains come up: resumable);
#   4. write every service's config (/state/<service>.toml) and check each one loads.
set -eu
STATE=/state
CONFIG="$STATE/xgate.toml"
[ -f "$CONFIG" ] || cp /etc/xgate/xgate.toml "$CONFIG"
xgate db upgrade --url "$XGATE_STORE_URL"
tries=0
until xgate deploy --config "$CONFIG"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "deploy: still failing after $tries attempts" >&2
        exit 1
    fi
    echo "deploy: chains not ready or deployment interrupted; retrying in 5 s ($tries)" >&2
    sleep 5
done
python /etc/xgate/render_configs.py "$CONFIG" /etc/xgate/services "$STATE"
