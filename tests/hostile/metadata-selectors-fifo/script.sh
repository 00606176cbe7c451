mkfifo "$KRATIX_METADATA/destination-selectors.yaml"
set -- "$KRATIX_OUTPUT/cm.yaml"
cat > "$1" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: evil}
YAML
