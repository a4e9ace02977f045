#!/bin/sh
# Write the password file from the environment, then run the broker (compose.yaml, Kubernetes).
set -eu
: "${MQTT_APP_PASSWORD:?set the app's MQTT password}"
: "${MQTT_BRIDGE_PASSWORD:?set the bridges' MQTT password}"
passwd=/mosquitto/data/passwd
rm -f "$passwd"
mosquitto_passwd -b -c "$passwd" app "$MQTT_APP_PASSWORD"
mosquitto_passwd -b "$passwd" bridge "$MQTT_BRIDGE_PASSWORD"
chown mosquitto:mosquitto "$passwd" /mosquitto/data
chmod 0600 "$passwd"
exec mosquitto -c /mosquitto/config/mosquitto.conf
