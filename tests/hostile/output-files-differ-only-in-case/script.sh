configmap "$KRATIX_OUTPUT/cm.yaml"
configmap "$KRATIX_OUTPUT/CM.yaml"
