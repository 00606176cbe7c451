mkdir -p "$KRATIX_OUTPUT/git~1"
configmap "$KRATIX_OUTPUT/git~1/cm.yaml"
