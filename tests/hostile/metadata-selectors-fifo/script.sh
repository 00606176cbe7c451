mkfifo "$KRATIX_METADATA/destination-selectors.yaml"
configmap "$KRATIX_OUTPUT/cm.yaml"
