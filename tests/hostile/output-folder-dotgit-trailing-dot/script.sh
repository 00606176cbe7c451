mkdir -p "$KRATIX_OUTPUT/.git."
configmap "$KRATIX_OUTPUT/.git./cm.yaml"
