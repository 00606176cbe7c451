printf -- "- directory: ../x\n  matchLabels: {env: dev}\n" > "$KRATIX_METADATA/destination-selectors.yaml"
configmap "$KRATIX_OUTPUT/cm.yaml"
