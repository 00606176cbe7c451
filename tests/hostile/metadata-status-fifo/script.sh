mkfifo "$KRATIX_METADATA/status.yaml"
configmap "$KRATIX_OUTPUT/cm.yaml"
