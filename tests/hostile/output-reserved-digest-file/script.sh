set -- "$KRATIX_OUTPUT/SHA256SUMS"
cat > "$1" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: evil}
YAML
