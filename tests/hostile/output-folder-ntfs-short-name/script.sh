mkdir -p "$KRATIX_OUTPUT/git~1"
set -- "$KRATIX_OUTPUT/git~1/cm.yaml"
cat > "$1" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: evil}
YAML
