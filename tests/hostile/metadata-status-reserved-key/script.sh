echo "promised: {phase: Ready}" > "$KRATIX_METADATA/status.yaml"
configmap "$KRATIX_OUTPUT/cm.yaml"
