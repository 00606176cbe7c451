ln -s /dev/zero "$KRATIX_METADATA/status.yaml"
configmap "$KRATIX_OUTPUT/cm.yaml"
