mkdir -p "$KRATIX_OUTPUT/.Git"
configmap "$KRATIX_OUTPUT/.Git/cm.yaml"
