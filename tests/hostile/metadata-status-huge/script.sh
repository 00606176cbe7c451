yes "k: v" | head -c 67108864 > "$KRATIX_METADATA/status.yaml"
configmap "$KRATIX_OUTPUT/cm.yaml"
