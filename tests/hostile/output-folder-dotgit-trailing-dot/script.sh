mkdir -p "$KRATIX_OUTPUT/.git."
set -- "$KRATIX_OUTPUT/.git./cm.yaml"
cat > "$1" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: evil}
YAML
